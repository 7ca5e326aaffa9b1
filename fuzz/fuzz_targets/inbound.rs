//! Any bytes as an inbound message: the classifier answers, never panics,
//! and a person's reply is never made of a delivery report's parts.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use nurture::inbound::{Verdict, classify};

fuzz_target!(|data: &[u8]| {
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    let m = classify(data, now);
    assert!(!m.key.is_empty());
    if let Verdict::Reply { first_lines } = &m.verdict {
        assert!(first_lines.lines().count() <= 12, "{first_lines:?}");
    }
});
