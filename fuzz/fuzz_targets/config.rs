//! `nurture.toml`: any bytes are either a config or positioned problems in
//! that file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nurture::config::Config;
use nurture::diag::Diagnostics;

fuzz_target!(|data: &[u8]| {
    // The config alone, not the whole project: a fuzzed `[paths]` may name
    // any folder on the machine, and walking `/` is not the point here.
    let path = nurture_fuzz::project().join("fuzzed.toml");
    std::fs::write(&path, data).unwrap();
    let mut diags = Diagnostics::default();
    let _ = Config::load(Some(&path), &mut diags);
    nurture_fuzz::assert_located(&diags, data, &path);
});
