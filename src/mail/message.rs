//! Turning an [`Outgoing`] into an RFC 5322 message: both parts when there
//! is HTML, a unique Message-ID, and for marketing email the one-click
//! unsubscribe headers of RFC 2369 and RFC 8058 and the `List-Id` of RFC
//! 2919 (list headers without a `List-Id` cost spam points).

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::Outgoing;

pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub reply_to: Option<&'a Mailbox>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the message to {to}: {why}")]
pub struct BuildError {
    pub to: String,
    pub why: String,
}

/// Random enough to be unique across replicas and restarts, and carrying
/// the sender's domain as RFC 5322 asks.
pub fn message_id(from: &Mailbox) -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    let id = crate::hex::encode(&bytes);
    format!("<{id}@{}>", from.email.domain())
}

/// A subject with a word too long to fold onto a line of its own (a
/// 1,200-character first name): lettre writes it on one line, which SMTP
/// servers refuse ("Line too long"). Such a subject goes as RFC 2047
/// encoded words of at most 39 bytes each (a folded line stays under 78
/// characters), split between characters, never inside one. `None`: lettre
/// folds it well.
fn long_subject(subject: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    if subject.split_whitespace().all(|w| w.len() <= 60) {
        return None;
    }
    let mut chunks = vec![String::new()];
    for c in subject.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if chunks.last().is_some_and(|last| last.len() + c.len_utf8() > 39) {
            chunks.push(String::new());
        }
        if let Some(last) = chunks.last_mut() {
            last.push(c);
        }
    }
    let words: Vec<String> =
        chunks.iter().map(|c| format!("=?utf-8?b?{}?=", base64::engine::general_purpose::STANDARD.encode(c))).collect();
    const SUBJECT: HeaderName = HeaderName::new_from_ascii_str("Subject");
    Some(HeaderValue::dangerous_new_pre_encoded(SUBJECT, subject.to_string(), words.join("\r\n ")))
}

pub fn build(m: &Outgoing, env: &Envelope) -> Result<Message, BuildError> {
    let fail = |why: String| BuildError { to: m.to.clone(), why };
    // The address alone, never parsed as `Name <addr>`: an address is not
    // a display name.
    let to = Mailbox::new(None, m.to.parse().map_err(|e| fail(format!("recipient: {e}")))?);
    let mut b = Message::builder().from(env.from.clone()).to(to);
    b = match long_subject(&m.subject) {
        Some(encoded) => b.raw_header(encoded),
        None => b.subject(&m.subject),
    };
    let mut b = b.date_now().message_id(Some(m.message_id.clone().unwrap_or_else(|| message_id(env.from))));
    if let Some(r) = env.reply_to {
        b = b.reply_to(r.clone());
    }
    if let Some(url) = &m.unsubscribe_url {
        const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
        const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
        b = b
            .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, format!("<{url}>")))
            .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE_POST, "List-Unsubscribe=One-Click".into()));
    }
    if let Some(list) = &m.list_id {
        const LIST_ID: HeaderName = HeaderName::new_from_ascii_str("List-Id");
        b = b.raw_header(HeaderValue::new(LIST_ID, list.clone()));
    }
    let built = match &m.html {
        Some(html) => b.multipart(MultiPart::alternative_plain_html(m.text.clone(), html.clone())),
        None => b.singlepart(SinglePart::plain(m.text.clone())),
    };
    built.map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(html: bool, unsubscribe: bool) -> Outgoing {
        Outgoing {
            to: "ana@acme.test".into(),
            subject: "Still weighing Acme's options?".into(),
            text: "Hi Ana".into(),
            html: html.then(|| "<p>Hi Ana</p>".into()),
            unsubscribe_url: unsubscribe.then(|| "https://n.test/u/1.abc".into()),
            list_id: unsubscribe.then(|| "Win-back <winback.example.com>".into()),
            message_id: unsubscribe.then(|| "<d1.0011223344556677@example.com>".into()),
            ..Default::default()
        }
    }

    fn format(m: &Outgoing) -> String {
        let from: Mailbox = "Sales <sales@example.com>".parse().unwrap();
        let msg = build(m, &Envelope { from: &from, reply_to: None }).unwrap();
        String::from_utf8(msg.formatted()).unwrap()
    }

    #[test]
    fn marketing_email_has_one_click_unsubscribe_both_parts_and_an_id() {
        let text = format(&outgoing(true, true));
        assert!(text.contains("List-Unsubscribe: <https://n.test/u/1.abc>\r\n"), "{text}");
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("text/plain") && text.contains("text/html"), "{text}");
        assert!(text.contains("Message-ID: <d1.0011223344556677@example.com>\r\n"), "the delivery's id: {text}");
        assert!(text.contains("List-Id: Win-back <winback.example.com>\r\n"), "{text}");
    }

    #[test]
    fn rep_email_without_html_is_plain_and_has_no_unsubscribe() {
        let text = format(&outgoing(false, false));
        assert!(!text.contains("List-Unsubscribe") && !text.contains("List-Id"));
        assert!(text.contains("Message-ID: <") && text.contains("@example.com>"), "a random id: {text}");
        assert!(!text.contains("multipart"));
    }

    #[test]
    fn crlf_in_a_subject_never_becomes_a_header() {
        let mut m = outgoing(true, true);
        m.subject = "Hi Ana\r\nBcc: victim@evil.test\r\n\r\n<script>x</script>".into();
        let text = format(&m);
        let headers = text.split("\r\n\r\n").next().unwrap();
        assert!(!headers.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{headers}");
        assert_eq!(headers.matches("\r\nTo: ").count(), 1, "{headers}");
        assert!(!text.contains("Bcc: victim"), "the raw CRLF must be encoded, not passed: {text}");
    }

    #[test]
    fn a_recipient_with_crlf_is_refused_not_sent() {
        let mut m = outgoing(false, false);
        m.to = "ana@acme.test\r\nBcc: victim@evil.test".into();
        let from: Mailbox = "s@example.com".parse().unwrap();
        assert!(build(&m, &Envelope { from: &from, reply_to: None }).is_err());
    }

    #[test]
    fn no_line_of_any_part_is_longer_than_smtp_allows() {
        let long = "a".repeat(1200);
        let mut m = outgoing(true, true);
        m.subject = format!("Call {long} now");
        m.text = format!("Hi {long},\n{}\n", "x ".repeat(700));
        m.html = Some(format!("<p>Hi {long}</p><p>{}</p>", "\u{e9}".repeat(1200)));
        let text = format(&m);
        let longest = text.split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 78, "a {longest}-character line: {text}");
        let parsed = mail_parser::MessageParser::default().parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some(m.subject.as_str()), "the subject reads back whole");
        let mut plain = outgoing(false, false);
        plain.text = format!("Hi {long}\n");
        let longest = format(&plain).split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 998, "a {longest}-character line in a rep's plain message");
    }

    #[test]
    fn message_ids_are_unique() {
        let from: Mailbox = "s@example.com".parse().unwrap();
        assert_ne!(message_id(&from), message_id(&from));
    }
}
