//! One message in, one [`Inbound`] out: the questions in the README's
//! order (feedback report, delivery report, read receipt, automatic reply,
//! other machine mail, and only then a person). Pure: any bytes give an
//! answer, never a panic (a fuzz target holds it to that).

use chrono::{DateTime, Utc};
use mail_parser::{Message, MessageParser};
use sha2::{Digest, Sha256};

use super::view::{self, field, field_groups};
use super::{Inbound, Verdict, autoreply, bounce, dates, reply};

/// What the rep's notice quotes of a reply.
const FIRST_LINES: usize = 6;
/// The text searched for our signed tokens.
const SCAN_LIMIT: usize = 256 * 1024;

/// Classify `raw`; `now` stands in for a missing or absurd `Date`.
pub fn classify(raw: &[u8], now: DateTime<Utc>) -> Inbound {
    let Some(m) = MessageParser::default().parse(raw) else {
        return Inbound {
            verdict: Verdict::Machine("not a message"),
            key: hash_key(raw),
            date: None,
            subject: String::new(),
            from: None,
            recipients: vec![],
            references: vec![],
            scan: String::new(),
        };
    };
    let subject = m.subject().unwrap_or("").trim().to_string();
    let from = m.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_ascii_lowercase);
    let date = m.date().and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0));
    let text = view::human_text(&m);
    let original = view::original(&m);
    // When it was written, for dates without a year: never later than now,
    // nor more than a month before (a stranger writes any Date header).
    let sent = date.map_or(now, |d| d.clamp(now - chrono::TimeDelta::days(30), now));
    let verdict = verdict(&m, from.as_deref(), &subject, &text, sent, original.as_ref());

    let mut references: Vec<String> = ["In-Reply-To", "References"]
        .iter()
        .flat_map(|h| view::headers(&m, h))
        .flat_map(|v| view::ids_in(&v))
        .collect();
    if let Some(id) = original.as_ref().and_then(|o| o.message_id()) {
        references.push(id.to_string());
    }
    let mut scan = String::from_utf8_lossy(&raw[..raw.len().min(SCAN_LIMIT)]).into_owned();
    scan.push('\n');
    scan.push_str(&text);
    Inbound {
        verdict,
        key: m.message_id().map(|id| format!("<{id}>")).unwrap_or_else(|| hash_key(raw)),
        date,
        subject,
        from,
        recipients: recipients(&m),
        references,
        scan,
    }
}

fn verdict(
    m: &Message,
    from: Option<&str>,
    subject: &str,
    text: &str,
    sent: DateTime<Utc>,
    original: Option<&Message>,
) -> Verdict {
    let (_, report) = view::content_type(m);
    let feedback = view::parts_text(m, &["message/feedback-report"]);
    if report.as_deref() == Some("feedback-report") || !feedback.is_empty() {
        return complaint(&feedback, original);
    }
    // Feedback loops outside RFC 5965: Microsoft's JMRP names the
    // complaining address in `X-HmXmrOriginalRecipient` (on the report or on
    // the message it returns), AOL's older reports loop through `scomp`.
    let jmrp = |msg: &Message| view::header(msg, "X-HmXmrOriginalRecipient").and_then(|v| view::address_in(&v));
    let hotmail = jmrp(m).or_else(|| original.and_then(jmrp));
    let scomp = view::header(m, "X-Loop").is_some_and(|l| l.to_ascii_lowercase().contains("scomp"));
    if hotmail.is_some() || scomp {
        let recipient = hotmail.or_else(|| {
            original.and_then(|o| o.to()).and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_ascii_lowercase)
        });
        return Verdict::Complaint { feedback_type: "abuse".into(), recipient };
    }
    if let Some(v) = super::ses::verdict(text) {
        return v;
    }
    if bounce::looks_like_report(m, from, subject) {
        return bounce::verdict(m, subject);
    }
    if report.as_deref() == Some("disposition-notification") {
        return Verdict::Machine("a read receipt");
    }
    if let Some(why) = super::unsubscribe::by_mail_program(m) {
        return Verdict::Unsubscribe { why, first_lines: reply::first_lines(text, FIRST_LINES) };
    }
    if autoreply::automatic(m, subject, text).is_some() {
        let said = format!("{subject}\n{text}");
        return Verdict::AutoReply { until: dates::return_date(&said, sent.date_naive()) };
    }
    if let Some(why) = machine(m, from, subject) {
        return Verdict::Machine(why);
    }
    // Its own words only: a person quoting a bounce is still a person.
    if bounce::reads_like_failure(&reply::first_lines(text, 40)) {
        return bounce::verdict(m, subject);
    }
    let first_lines = reply::first_lines(text, FIRST_LINES);
    match super::unsubscribe::requested(subject, &first_lines) {
        Some(why) => Verdict::Unsubscribe { why, first_lines },
        None => Verdict::Reply { first_lines },
    }
}

/// RFC 5965: `Feedback-Type: abuse` (or `fraud`, `virus`, ...) about the
/// message it carries; `not-spam` and `auth-failure` are no complaint.
fn complaint(feedback: &[String], original: Option<&Message>) -> Verdict {
    let fields: Vec<(String, String)> = feedback.iter().flat_map(|f| field_groups(f)).flatten().collect();
    let feedback_type = field(&fields, "feedback-type").unwrap_or("abuse").trim().to_ascii_lowercase();
    if feedback_type == "not-spam" {
        return Verdict::Machine("a not-spam report");
    }
    // RFC 6591: a DMARC/SPF/DKIM failure seen by a receiver, nobody's
    // complaint about what they got.
    if feedback_type == "auth-failure" {
        return Verdict::Machine("an authentication failure report");
    }
    let recipient = field(&fields, "original-rcpt-to")
        .or(field(&fields, "removal-recipient"))
        .and_then(view::address_in)
        .or_else(|| {
            original.and_then(|o| o.to()).and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_ascii_lowercase)
        });
    Verdict::Complaint { feedback_type, recipient }
}

/// A mailing list manager writing about a message sent to its list
/// ("you are not a member", "awaits moderator approval"): Mailman's
/// administrivia headers, the manager's own addresses (`LIST-owner`,
/// `LIST-bounces`, `LIST-request`, `mailman`, `listserv`, `sympa`,
/// `majordomo`), or a moderation subject.
fn list_manager(m: &Message, local: &str, subject: &str) -> bool {
    if view::header(m, "X-List-Administrivia").is_some() || view::header(m, "X-Mailman-Version").is_some() {
        return true;
    }
    let managers = ["mailman", "listserv", "sympa", "majordomo", "ezmlm", "lyris", "googlegroups"];
    let suffixes = ["-owner", "-bounces", "-request", "-admin", "-help"];
    if managers.contains(&local) || suffixes.iter().any(|s| local.ends_with(s)) {
        return true;
    }
    let subject = subject.to_lowercase();
    ["not a member", "not allowed to post", "moderator approval", "awaits moderator", "requires approval"]
        .iter()
        .any(|p| subject.contains(p))
}

/// Machine mail that is no report and no automatic reply: a sender that
/// takes no answers, a list or bulk mail, a list manager's notice, or a
/// null return path.
fn machine(m: &Message, from: Option<&str>, subject: &str) -> Option<&'static str> {
    let local = from.and_then(|f| f.split('@').next()).unwrap_or("").to_ascii_lowercase();
    let no_reply =
        ["noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply", "bounce", "notification"]
            .iter()
            .any(|p| local.starts_with(p));
    if no_reply {
        return Some("a sender that takes no reply");
    }
    if view::header(m, "List-Id").is_some() || view::header(m, "List-Unsubscribe").is_some() {
        return Some("list mail");
    }
    if let Some(p) = view::header(m, "Precedence").or_else(|| view::header(m, "X-Precedence"))
        && ["bulk", "junk", "list"].contains(&p.trim().to_ascii_lowercase().as_str())
    {
        return Some("bulk mail");
    }
    if list_manager(m, &local, subject) {
        return Some("a mailing list manager's notice");
    }
    if view::header(m, "Return-Path").is_some_and(|r| r.trim() == "<>") {
        return Some("a null return path");
    }
    from.is_none().then_some("no sender")
}

/// Where the message was delivered: a signed return path shows here.
fn recipients(m: &Message) -> Vec<String> {
    const HEADERS: &[&str] = &[
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "X-Envelope-To",
        "Original-Recipient",
        "X-Rcpt-To",
        "To",
        "Cc",
    ];
    HEADERS
        .iter()
        .flat_map(|h| view::headers(m, h))
        .flat_map(|v| v.split(',').filter_map(view::address_in).collect::<Vec<_>>())
        .collect()
}

/// A message's key from its bytes alone (`sha256:…`), for one without a
/// Message-ID.
pub fn hash_key(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    format!("sha256:{}", crate::hex::encode(&digest[..16]))
}
