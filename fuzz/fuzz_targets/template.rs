//! A template file in place of a bundled one (the first byte picks which,
//! and whether it is the HTML or the text part), loaded and rendered as
//! `check` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] =
    ["winback/check-in.html.hbs", "winback/check-in.txt.hbs", "partials/footer.html.hbs", "speed/welcome.txt.hbs"];

fuzz_target!(|data: &[u8]| {
    let Some((pick, text)) = data.split_first() else { return };
    let rel = format!("templates/{}", NAMES[*pick as usize % NAMES.len()]);
    let original = std::fs::read(nurture_fuzz::project().join(&rel)).unwrap();
    let diags = nurture_fuzz::check_with(&rel, text);
    std::fs::write(nurture_fuzz::project().join(&rel), original).unwrap();
    nurture_fuzz::assert_located(&diags, text, &nurture_fuzz::project().join(&rel));
});
