//! A lead CSV as `leads import` reads it (from a file: not UTF-8, quotes,
//! ragged rows, any header). Every row is a lead or a positioned error;
//! an accepted lead's address can never become a mail header line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nurture::import::Rows;

fuzz_target!(|data: &[u8]| {
    let path = nurture_fuzz::project().join("leads.csv");
    std::fs::write(&path, data).unwrap();
    let statuses: Vec<String> = ["new", "lost", "nurturing"].map(String::from).into();
    let Ok(rows) = Rows::open(&path, &statuses) else { return };
    let lines = data.iter().filter(|b| **b == b'\n').count() + 1;
    for row in rows.take(10_000) {
        match row {
            Ok(lead) => {
                let header_safe = |s: &str| !s.contains(['\r', '\n']);
                assert!(header_safe(&lead.email), "{:?}", lead.email);
                assert!(lead.owner.as_deref().is_none_or(header_safe), "{:?}", lead.owner);
            }
            Err((line, msg)) => {
                assert!(line >= 1 && line <= lines + 1, "line {line} of {lines}: {msg}");
                assert!(!msg.is_empty());
            }
        }
    }
});
