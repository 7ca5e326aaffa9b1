//! The corpus under `tests/corpus/`: real-shaped messages from the mail
//! systems we meet, one folder per expected classification (the bounce
//! folders also name the severity; an auto-reply's file name ends with the
//! return date it states, when it states one).

use std::path::Path;

use chrono::{TimeZone, Utc};
use nurture::inbound::{Kind, Severity, Verdict, classify};

fn corpus(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no messages in {}", dir.display());
    files
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap()
}

#[test]
fn bounces_are_bounces_of_their_severity() {
    for (folder, severity) in
        [("bounce-hard", Severity::Hard), ("bounce-soft", Severity::Soft), ("bounce-refused", Severity::Refused)]
    {
        for (name, raw) in corpus(folder) {
            match classify(&raw, now()).verdict {
                Verdict::Bounce(b) => {
                    assert_eq!(b.severity, severity, "{folder}/{name}: {b:?}");
                    assert!(b.recipient.is_some(), "{folder}/{name}: a bounce names its failed recipient: {b:?}");
                }
                other => panic!("{folder}/{name}: expected a bounce, got {other:?}"),
            }
        }
    }
}

#[test]
fn complaints_name_the_recipient_when_the_report_does() {
    for (name, raw) in corpus("complaint") {
        let Verdict::Complaint { feedback_type, recipient } = classify(&raw, now()).verdict else {
            panic!("{name}: expected a complaint");
        };
        assert_eq!(feedback_type, "abuse", "{name}");
        if name.starts_with("yahoo") {
            assert_eq!(recipient.as_deref(), Some("mia@yahoo.test"), "{name}");
        }
        if name.starts_with("ses") {
            assert_eq!(recipient.as_deref(), Some("mia@yahoo.test"), "{name}: complainedRecipients");
        }
        if name.starts_with("hotmail") {
            assert_eq!(recipient.as_deref(), Some("ana.ruiz@outlook.test"), "{name}: X-HmXmrOriginalRecipient");
        }
    }
}

#[test]
fn automatic_replies_are_never_replies_and_carry_their_return_date() {
    let mut wrong = Vec::new();
    for (name, raw) in corpus("auto_reply") {
        let inbound = classify(&raw, now());
        let Verdict::AutoReply { until } = inbound.verdict else {
            wrong.push(format!("{name}: expected an auto-reply, got {:?}", inbound.verdict));
            continue;
        };
        let stem = name.trim_end_matches(".eml");
        let expected = stem.get(stem.len().saturating_sub(10)..).filter(|d| d.starts_with("20"));
        let got = until.map(|d| d.to_string());
        if got.as_deref() != expected {
            wrong.push(format!("{name}: return date {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn replies_keep_what_the_person_wrote_without_the_quote() {
    for (name, raw) in corpus("reply") {
        let inbound = classify(&raw, now());
        let Verdict::Reply { first_lines } = &inbound.verdict else {
            panic!("{name}: expected a reply, got {:?}", inbound.verdict);
        };
        assert!(!first_lines.is_empty(), "{name}");
        assert!(
            !first_lines.contains('>') && !first_lines.contains("Hi Ana") && !first_lines.contains("Hi Carla"),
            "{name}: {first_lines}"
        );
    }
}

#[test]
fn requests_to_be_removed_unsubscribe() {
    for (name, raw) in corpus("unsubscribe") {
        let inbound = classify(&raw, now());
        assert!(matches!(inbound.verdict, Verdict::Unsubscribe { .. }), "{name}: {:?}", inbound.verdict);
        assert_eq!(inbound.verdict.kind(), Kind::Reply, "{name}: a person's reply, to `nurture inbound`");
    }
    // A reply that only quotes our footer's "Unsubscribe" is a reply.
    for (name, raw) in corpus("reply") {
        assert!(matches!(classify(&raw, now()).verdict, Verdict::Reply { .. }), "{name}");
    }
}

#[test]
fn successes_receipts_and_lists_are_left_alone() {
    for (name, raw) in corpus("unmatched") {
        let inbound = classify(&raw, now());
        assert_eq!(inbound.verdict.kind(), Kind::Unmatched, "{name}: {:?}", inbound.verdict);
    }
}

#[test]
fn references_and_recipients_are_read_for_matching() {
    let raw = &corpus("bounce-hard").into_iter().find(|(n, _)| n == "m365-recipient-not-found.eml").unwrap().1;
    let inbound = classify(raw, now());
    assert!(
        inbound.references.iter().any(|r| r == "d44.0123456789abcdef@sales.example.com"),
        "{:?}",
        inbound.references
    );
    let raw = &corpus("bounce-hard").into_iter().find(|(n, _)| n == "postfix-user-unknown.eml").unwrap().1;
    let inbound = classify(raw, now());
    assert!(inbound.recipients.iter().any(|r| r == "bounces@sales.example.com"), "{:?}", inbound.recipients);
    assert!(
        inbound.references.iter().any(|r| r.starts_with("d42.")),
        "the original's Message-ID: {:?}",
        inbound.references
    );
}
