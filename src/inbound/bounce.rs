//! Delivery reports: RFC 3464 (`multipart/report; report-type=
//! delivery-status`) and the older plain-text formats qmail, Exim,
//! Sendmail, Exchange, Lotus Notes and providers still write. The reason
//! names are Sisimai's bounce taxonomy (`userunknown`, `hostunknown`,
//! `suspend`, `mailboxfull`, `blocked`, `spamdetected`, ...), read from the
//! server's words first and its RFC 3463 status second, because servers
//! put the precise reason in the words (`550 5.7.1 ... user unknown`).

use mail_parser::Message;

use super::view::{self, field, field_groups};
use super::{Bounce, Severity, Verdict};

/// Whether the message presents itself as a delivery report, from its
/// structure, its sender or its subject.
pub fn looks_like_report(m: &Message, from: Option<&str>, subject: &str) -> bool {
    let (ct, report) = view::content_type(m);
    if report.as_deref() == Some("delivery-status") || view::has_part(m, STATUS_TYPES) {
        return true;
    }
    if ct == "multipart/report"
        && report.as_deref() != Some("feedback-report")
        && report.as_deref() != Some("disposition-notification")
    {
        return true;
    }
    if view::header(m, "X-Failed-Recipients").is_some() {
        return true;
    }
    // `MAILER-DAEMON`, `Mailer_Daemon`, `post_master`, `postmaster1`: the
    // separators and a trailing number vary between systems.
    let local: String = from
        .and_then(|f| f.split('@').next())
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    let machine_sender = ["mailerdaemon", "postmaster", "maildaemon", "mdaemon", "mailerdeamon", "mailsystem"]
        .iter()
        .any(|s| local == *s);
    let s = subject.to_lowercase();
    let report_subject = REPORT_SUBJECTS.iter().any(|p| s.contains(p));
    machine_sender || report_subject
}

/// A message in no report format whose own words (not a quote) say that
/// mail failed, with an SMTP reply code or status to show for it: a
/// gateway's homemade notice. Never a person's reply.
pub fn reads_like_failure(text: &str) -> bool {
    let said = without_original(text).to_lowercase();
    const FAILED: &[&str] = &[
        "could not be delivered",
        "was not delivered",
        "wasn't delivered",
        "delivery has failed",
        "delivery failed",
        "undeliverable",
        "permanent fatal error",
        "invalid user address",
        "no such user",
        "user unknown",
        "unknown user",
        "recipient address rejected",
        "mailbox unavailable",
        "requested action not taken",
    ];
    // The reply codes a failed delivery carries (RFC 5321), not any number
    // ("500 seats"), or an RFC 3463 status.
    const CODES: &[&str] = &["421", "450", "451", "452", "550", "551", "552", "553", "554"];
    let code = said
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
        .any(|w| CODES.contains(&w) || status_in(w).is_some_and(|s| !s.starts_with('2')));
    code && FAILED.iter().any(|p| said.contains(p))
}

const STATUS_TYPES: &[&str] = &["message/delivery-status", "message/global-delivery-status"];

/// Subjects of delivery reports in the formats and languages we meet.
const REPORT_SUBJECTS: &[&str] = &[
    "undeliverable",
    "undelivered mail",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "mail delivery failed",
    "failure notice",
    "returned mail",
    "returned to sender",
    "mail system error",
    "could not send message",
    "delivery notification",
    "non remis",
    "non distribuable",
    "unzustellbar",
    "nicht zustellbar",
    "no se puede entregar",
    "no entregado",
    "message not delivered",
    "delayed mail",
    "delivery delayed",
    "warning: could not send",
    "mail delivery system",
    "nondeliverable",
];

/// A delivery report's verdict: a bounce (hard, soft or refused) or a
/// delivery success.
pub fn verdict(m: &Message, subject: &str) -> Verdict {
    let human = without_original(&view::human_text(m));
    for part in view::parts_text(m, STATUS_TYPES) {
        let groups = field_groups(&part);
        let recipients: Vec<_> =
            groups.iter().filter(|g| field(g, "action").is_some() || field(g, "final-recipient").is_some()).collect();
        let failed = recipients.iter().find(|g| {
            let action = field(g, "action").unwrap_or("").to_ascii_lowercase();
            action.starts_with("failed")
                || action.starts_with("delayed")
                || (action.is_empty() && field(g, "status").is_some_and(|s| s.starts_with(['4', '5'])))
        });
        let Some(g) = failed else {
            if !recipients.is_empty() {
                return Verdict::Delivered;
            }
            continue;
        };
        let delayed = field(g, "action").is_some_and(|a| a.to_ascii_lowercase().starts_with("delayed"));
        let status = field(g, "status").and_then(status_in);
        let diagnostic = field(g, "diagnostic-code").map(|d| strip_type(d).to_string()).unwrap_or_default();
        let recipient = field(g, "final-recipient").or(field(g, "original-recipient")).and_then(view::address_in);
        let (reason, severity) = if delayed {
            ("delayed", Severity::Soft)
        } else {
            match reason_of_text(&diagnostic) {
                Some(r) => r,
                None => reason_of_text(&human).unwrap_or_else(|| reason_of_status(status.as_deref())),
            }
        };
        let diagnostic = if diagnostic.is_empty() { first_words(&human) } else { diagnostic };
        return Verdict::Bounce(Bounce { severity, reason, status, recipient, diagnostic: shorten(&diagnostic) });
    }
    legacy(m, subject, &human)
}

/// A report without RFC 3464 fields: the words decide.
fn legacy(m: &Message, subject: &str, human: &str) -> Verdict {
    let s = subject.to_lowercase();
    let t = human.to_lowercase();
    let status = status_in(human);
    let smtp_code = smtp_code_in(human);
    let failure_words = [
        "fail",
        "could not",
        "couldn't",
        "unable",
        "not delivered",
        "wasn't delivered",
        "undeliver",
        "rejected",
        "permanent",
        "error",
    ];
    let failed =
        status.is_some() || smtp_code.is_some() || failure_words.iter().any(|w| t.contains(w) || s.contains(w));
    let success = [
        "delivered successfully",
        "successfully delivered",
        "was delivered",
        "has been delivered",
        "delivery has succeeded",
        "(success)",
        "relayed",
    ]
    .iter()
    .any(|w| t.contains(w) || s.contains(w));
    if success && !failed {
        return Verdict::Delivered;
    }
    let delayed =
        ["delayed", "delay", "still trying", "will continue", "will keep trying", "not yet been delivered", "warning:"]
            .iter()
            .any(|w| s.contains(w))
            || (t.contains("not yet been delivered") || t.contains("will be retried") || t.contains("still trying"));
    let recipient = view::header(m, "X-Failed-Recipients")
        .and_then(|v| view::address_in(v.split(',').next().unwrap_or("")))
        .or_else(|| first_address(human));
    let (reason, severity) = if delayed && status.as_deref().is_none_or(|s| s.starts_with('4')) {
        ("delayed", Severity::Soft)
    } else {
        reason_of_text(human).unwrap_or_else(|| reason_of_status(status.as_deref()))
    };
    let status = status.or_else(|| smtp_code.map(|c| format!("{}.0.0", &c[..1])));
    Verdict::Bounce(Bounce { severity, reason, status, recipient, diagnostic: shorten(&first_words(human)) })
}

/// The report's own words, without the copy of our message it returns
/// (our footer's words must not decide the reason).
fn without_original(text: &str) -> String {
    const MARKERS: &[&str] = &[
        "------ this is a copy of the message",
        "--- below this line is a copy of the message",
        "----- original message",
        "-----original message",
        "original message follows",
        "------ original message",
        "----- unsent message follows",
        "----- unsent message",
        "--- the header of the original message",
        "----- the following addresses had",
        "content-type: message/rfc822",
        "original message headers:",
    ];
    let lower = text.to_lowercase();
    let cut = MARKERS.iter().filter_map(|m| lower.find(m)).min().unwrap_or(text.len());
    // `to_lowercase` can change byte lengths; cut on a boundary of `text`.
    text[..view::floor_char(text, cut)].to_string()
}

/// The RFC 3463 status in a text (`5.1.1`), first found.
pub fn status_in(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for i in 0..b.len() {
        if !(b[i] == b'2' || b[i] == b'4' || b[i] == b'5')
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            continue;
        }
        let rest = &text[i..];
        let mut parts = rest.splitn(3, '.');
        let (Some(c), Some(s), Some(d)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let d: String = d.chars().take_while(|c| c.is_ascii_digit()).collect();
        let after = rest.as_bytes().get(c.len() + s.len() + d.len() + 2);
        if c.len() == 1
            && (1..=3).contains(&s.len())
            && s.bytes().all(|x| x.is_ascii_digit())
            && (1..=3).contains(&d.len())
            && !after.is_some_and(|a| a.is_ascii_alphanumeric() || *a == b'.')
        {
            return Some(format!("{c}.{s}.{d}"));
        }
    }
    None
}

/// An SMTP reply code (`550`) at the start of a word, first found.
fn smtp_code_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() == 3
                && (w.starts_with('5') || w.starts_with('4'))
                && w.bytes().all(|b| b.is_ascii_digit())
                && w.as_bytes()[1] <= b'5'
        })
        .map(str::to_string)
}

fn strip_type(diagnostic: &str) -> &str {
    diagnostic
        .split_once(';')
        .map(|(t, rest)| if t.trim().len() <= 8 { rest.trim() } else { diagnostic })
        .unwrap_or(diagnostic)
}

fn first_address(text: &str) -> Option<String> {
    text.split(|c: char| {
        c.is_whitespace() || c == '<' || c == '>' || c == '"' || c == '(' || c == ')' || c == ',' || c == ';'
    })
    .map(|w| w.trim_end_matches([':', '.']))
    .find(|w| w.contains('@') && w.find('@').is_some_and(|i| i > 0 && w[i + 1..].contains('.')))
    .map(|w| w.to_ascii_lowercase())
}

fn first_words(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).take(6).collect::<Vec<_>>().join(" ")
}

fn shorten(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= 300 { s } else { s.chars().take(300).collect::<String>() + "…" }
}

/// Words that name a reason, most specific first: the first list that has
/// a match in the text decides.
const BY_WORDS: &[(&str, Severity, &[&str])] = &[
    (
        "hostunknown",
        Severity::Hard,
        &[
            "host unknown",
            "host not found",
            "domain not found",
            "domain name not found",
            "no such domain",
            "unknown domain",
            "domain does not exist",
            "nxdomain",
            "unrouteable mail domain",
            "unroutable mail domain",
            "name service error",
            "no mx record",
            "dns error",
            "domain couldn't be found",
            "domain could not be found",
            "host or domain name not found",
            "no route to host found",
        ],
    ),
    (
        "userunknown",
        Severity::Hard,
        &[
            "user unknown",
            "unknown user",
            "no such user",
            "no such mailbox",
            "no such recipient",
            "no such person",
            "unknown recipient",
            "recipient unknown",
            "recipient not found",
            "recipnotfound",
            "user not found",
            "mailbox not found",
            "address not found",
            "addressee unknown",
            "does not exist",
            "doesn't exist",
            "no mailbox here",
            "not a valid mailbox",
            "invalid recipient",
            "invalid mailbox",
            "unknown local part",
            "unknown address",
            "address unknown",
            "unrouteable address",
            "couldn't be found",
            "could not be found",
            "wasn't found at",
            "not listed in",
            "no longer exists",
            "as(201806281)",
            "undeliverable address",
            "bad destination mailbox",
            "mailbox unknown",
            "unknown mailbox",
            "no account by that name",
            "utente inesistente",
            "unbekannt",
            "existiert nicht",
            "n'existe pas",
            "inconnu",
            "no existe",
            "desconocido",
        ],
    ),
    (
        "suspend",
        Severity::Hard,
        &[
            "account disabled",
            "account has been disabled",
            "mailbox disabled",
            "mailbox has been disabled",
            "is disabled",
            "deactivated",
            "inactive",
            "suspended",
            "account closed",
            "account has been closed",
            "no longer active",
            "no longer in use",
            "account is locked",
            "mailbox is inactive",
            "account expired",
        ],
    ),
    (
        "mailboxfull",
        Severity::Soft,
        &[
            "mailbox full",
            "mailbox is full",
            "over quota",
            "overquota",
            "quota exceeded",
            "exceeded quota",
            "exceeds quota",
            "exceeded its quota",
            "exceeded the quota",
            "inbox is full",
            "full mailbox",
            "mailbox size limit",
            "exceeded storage",
            "out of storage",
            "insufficient storage",
            "over its storage",
            "not enough space",
            "postfach voll",
            "boîte pleine",
            "buzón lleno",
        ],
    ),
    ("spamdetected", Severity::Refused, &["spam", "unsolicited", "junk mail", "bulk mail"]),
    (
        "blocked",
        Severity::Refused,
        &[
            "blacklist",
            "black list",
            "blocklist",
            "block list",
            "blocked",
            "spamhaus",
            "spamcop",
            "barracuda",
            "sorbs",
            "dnsbl",
            "rbl",
            "listed at",
            "listed on",
            "listed in",
            "reputation",
        ],
    ),
    (
        "policyviolation",
        Severity::Refused,
        &[
            "policy",
            "dmarc",
            "spf",
            "dkim",
            "authentication",
            "not authorized",
            "unauthenticated",
            "not permitted",
            "prohibited",
            "relay access denied",
            "relaying denied",
            "sender address rejected",
            "sender rejected",
            "sender denied",
            "content rejected",
            "virus",
            "malware",
            "phishing",
            "rate limit",
            "too many messages",
            "access denied",
        ],
    ),
    (
        "userunknown",
        Severity::Hard,
        &[
            "mailbox unavailable",
            "mailbox not available",
            "recipient rejected",
            "recipient address rejected",
            "address rejected",
            "unknown or illegal alias",
        ],
    ),
    (
        "mesgtoobig",
        Severity::Soft,
        &["message size exceeds", "message too large", "message is too large", "size limit"],
    ),
    (
        "expired",
        Severity::Soft,
        &[
            "retry timeout exceeded",
            "message expired",
            "could not be delivered within",
            "delivery time expired",
            "giving up",
            "timed out",
            "timeout",
        ],
    ),
];

/// The reason the words give, if they name one.
pub fn reason_of_text(text: &str) -> Option<(&'static str, Severity)> {
    let t = text.to_lowercase();
    BY_WORDS.iter().find(|(_, _, words)| words.iter().any(|w| contains_word(&t, w))).map(|(r, s, _)| (*r, *s))
}

/// `word` in `text` not inside a longer word (`rbl` is not `herbly`).
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The reason an RFC 3463 status implies, when the words name none.
pub fn reason_of_status(status: Option<&str>) -> (&'static str, Severity) {
    let Some(s) = status else { return ("undefined", Severity::Soft) };
    let permanent = s.starts_with('5');
    let detail = s.get(2..).unwrap_or("");
    match (permanent, detail) {
        (true, "1.1" | "1.0" | "1.3" | "4.1") => ("userunknown", Severity::Hard),
        (true, "1.2" | "4.4" | "4.0") => ("hostunknown", Severity::Hard),
        (true, "1.10") => ("notaccept", Severity::Hard),
        (true, "1.6") => ("hasmoved", Severity::Hard),
        (true, "2.1") => ("suspend", Severity::Hard),
        (_, "2.2") => ("mailboxfull", Severity::Soft),
        (_, "2.3" | "3.4") => ("mesgtoobig", Severity::Soft),
        (_, "4.7") => ("expired", Severity::Soft),
        (_, d) if d.starts_with("7.") => ("policyviolation", Severity::Refused),
        (false, _) => ("delayed", Severity::Soft),
        (true, _) => ("undefined", Severity::Soft),
    }
}

#[cfg(test)]
mod tests {
    use super::reads_like_failure;

    #[test]
    fn a_gateway_notice_reads_like_a_failure_and_a_person_does_not() {
        assert!(reads_like_failure("Error: Invalid user address\n550 - Requested action not taken: no such user here"));
        assert!(reads_like_failure("Your message could not be delivered: 5.1.1 user unknown"));
        assert!(!reads_like_failure("We need 500 seats; the last shipment was undeliverable, call me."));
        assert!(!reads_like_failure("Sounds good, call me on 550 1234 next week."));
    }
}
