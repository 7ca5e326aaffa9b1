//! The parts of a parsed message the classifier reads, found with
//! `mail-parser` (which does the MIME work): headers by name, the report
//! parts of RFC 3464 and RFC 5965 as fields, the human-readable text, and
//! the original message a report or a reply carries.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// Text longer than this is not read further: a report's useful words come
/// first, and a huge message must not cost more than a small one.
pub const TEXT_LIMIT: usize = 64 * 1024;

/// A header's raw value, unfolded and trimmed; the first of its name.
pub fn header(m: &Message, name: &str) -> Option<String> {
    m.headers_raw().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| unfold(v))
}

/// Every value of a header, unfolded and trimmed.
pub fn headers(m: &Message, name: &str) -> Vec<String> {
    m.headers_raw().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| unfold(v)).collect()
}

fn unfold(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The top content type as `type/subtype`, and its `report-type`, lower-cased.
pub fn content_type(m: &Message) -> (String, Option<String>) {
    match m.content_type() {
        Some(ct) => {
            let full = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase();
            (full, ct.attribute("report-type").map(|r| r.to_ascii_lowercase()))
        }
        None => ("text/plain".into(), None),
    }
}

fn part_type(p: &mail_parser::MessagePart) -> String {
    p.content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
        .unwrap_or_default()
}

/// The bodies of the parts of these types (`message/delivery-status`, ...),
/// as text.
pub fn parts_text(m: &Message, types: &[&str]) -> Vec<String> {
    m.parts
        .iter()
        .filter(|p| types.contains(&part_type(p).as_str()))
        .map(|p| String::from_utf8_lossy(bounded(p.contents())).into_owned())
        .collect()
}

/// Whether the message has a part of one of these types.
pub fn has_part(m: &Message, types: &[&str]) -> bool {
    m.parts.iter().any(|p| types.contains(&part_type(p).as_str()))
}

fn bounded(b: &[u8]) -> &[u8] {
    &b[..b.len().min(TEXT_LIMIT)]
}

/// `Name: value` fields of a report part, in groups (a DSN has one group
/// per message and one per recipient, separated by blank lines). Names are
/// lower-cased; continuation lines are joined.
pub fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = vec![];
    let mut group: Vec<(String, String)> = vec![];
    for line in text.lines() {
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = group.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            group.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

pub fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The text a person (or a server, for people) wrote: the message's own
/// text parts, or its HTML as text, never the parts of a message it
/// carries.
pub fn human_text(m: &Message) -> String {
    let mut text = String::new();
    for p in m.text_bodies() {
        if let PartType::Text(t) = &p.body {
            text.push_str(t);
            text.push('\n');
        }
    }
    if text.trim().is_empty() {
        for p in m.html_bodies() {
            if let PartType::Html(h) = &p.body {
                text.push_str(&html2text::from_read(bounded(h.as_bytes()), 100).unwrap_or_default());
            }
        }
    }
    if text.trim().is_empty() {
        // A broken MIME structure (a boundary parameter on an unfolded
        // line) hides the text parts from the parser: read the raw body.
        text = raw_body(m);
    }
    text.truncate(floor_char(&text, TEXT_LIMIT));
    text
}

/// The message's bytes after its header, as text.
fn raw_body(m: &Message) -> String {
    let raw = m.raw_message();
    let start = m.root_part().raw_body_offset() as usize;
    let end = raw.len().min(start.saturating_add(TEXT_LIMIT));
    raw.get(start..end).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

/// The original message a report carries: a `message/rfc822` part, or the
/// headers of a `text/rfc822-headers` part, parsed.
pub fn original<'a>(m: &'a Message) -> Option<Message<'a>> {
    m.parts.iter().find_map(|p| match &p.body {
        PartType::Message(inner) => Some(inner.clone()),
        _ if part_type(p) == "text/rfc822-headers" => MessageParser::default().parse(p.contents()),
        _ => None,
    })
}

/// The largest index ≤ `at` that is a character boundary.
pub fn floor_char(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// An address from a header value (`"Ana" <ana@x>`, `<ana@x>`, `ana@x`),
/// lower-cased.
pub fn address_in(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = match (v.rfind('<'), v.rfind('>')) {
        (Some(a), Some(b)) if b > a => &v[a + 1..b],
        _ => v.split_whitespace().find(|w| w.contains('@')).unwrap_or(v),
    };
    let inner = inner.trim().trim_matches(|c| c == '"' || c == '\'' || c == ';' || c == ',');
    let inner = inner.strip_prefix("rfc822;").or_else(|| inner.strip_prefix("RFC822;")).unwrap_or(inner).trim();
    (inner.contains('@') && !inner.contains(char::is_whitespace)).then(|| inner.to_ascii_lowercase())
}

/// Message-IDs in a header value, without angle brackets.
pub fn ids_in(value: &str) -> Vec<String> {
    let mut ids = vec![];
    let mut rest = value;
    while let Some(a) = rest.find('<') {
        let Some(b) = rest[a..].find('>') else { break };
        let id = rest[a + 1..a + b].trim();
        if !id.is_empty() {
            ids.push(id.to_string());
        }
        rest = &rest[a + b + 1..];
    }
    if ids.is_empty() {
        ids.extend(value.split_whitespace().filter(|w| w.contains('@')).map(str::to_string));
    }
    ids
}
