//! A campaign file beside the bundled ones, loaded as `check` does (parsed,
//! validated, every step rendered against the sample lead).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let diags = nurture_fuzz::check_with("campaigns/fuzzed.toml", data);
    nurture_fuzz::assert_located(&diags, data, &nurture_fuzz::project().join("campaigns/fuzzed.toml"));
});
