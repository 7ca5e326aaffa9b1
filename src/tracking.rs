//! Tracked links: once an email has its delivery id, every http(s) link
//! it carries (HTML `href`s and addresses in the text part) is replaced
//! by `{public_url}/c/TOKEN`, the token signing the email, the link's
//! place and its exact target, and one invisible decoy link is added to
//! the HTML part (README, *Readiness and hand-off*). nurture's own links
//! (unsubscribe, task, answers) are left as they are; answer links,
//! rendered as `{public_url}/a/@NAME` by `{{answer_url "NAME"}}`, get
//! their signed token here.
//!
//! The text is walked by `find` on ASCII patterns only, so every index
//! is a char boundary whatever the template wrote around a link.

use crate::links::{AnswerToken, ClickToken, DECOY, Links};
use crate::template::RenderedEmail;

/// How `{{answer_url "NAME"}}` renders before the email has an id.
pub fn answer_placeholder(base: &str, name: &str) -> String {
    format!("{base}/a/@{name}")
}

/// The email as it is sent: answers signed, and with `track`, links
/// tracked and the decoy added.
pub fn finish(email: RenderedEmail, delivery_id: i64, lead_id: i64, links: &Links, track: bool) -> RenderedEmail {
    let answers = |s: String| sign_answers(s, delivery_id, lead_id, links);
    let mut email = RenderedEmail { subject: email.subject, text: answers(email.text), html: email.html.map(answers) };
    if !track {
        return email;
    }
    let own = format!("{}/", links.base());
    let mut targets: Vec<String> = Vec::new();
    let mut note = |url: &str| {
        if is_trackable(url, &own) && !targets.iter().any(|t| t == url) {
            targets.push(url.to_string());
        }
    };
    if let Some(html) = &email.html {
        for (_, _, url) in hrefs(html) {
            note(&url);
        }
    }
    for (_, _, url) in text_urls(&email.text) {
        note(&url);
    }
    let count = targets.len() as i64;
    let tracked = |url: &str| -> Option<String> {
        let link = targets.iter().position(|t| t == url)? as i64;
        Some(links.click_url(&ClickToken { delivery_id, link, links: count, url: url.to_string() }))
    };
    email.html = email.html.map(|html| {
        let mut out = replace(&html, hrefs(&html), &tracked);
        let decoy = links.click_url(&ClickToken { delivery_id, link: DECOY, links: count, url: String::new() });
        let anchor = format!(
            "<a href=\"{decoy}\" style=\"display:none\" aria-hidden=\"true\" tabindex=\"-1\" rel=\"nofollow\"></a>"
        );
        match out.to_ascii_lowercase().rfind("</body>") {
            Some(i) => out.insert_str(i, &anchor),
            None => out.push_str(&anchor),
        }
        out
    });
    email.text = replace(&email.text, text_urls(&email.text), &tracked);
    email
}

/// Whether a link goes through `/c/`: http(s), and not nurture's own.
fn is_trackable(url: &str, own: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && !url.starts_with(own)
}

/// Whether `url` is a scheme that has no business in an email's link
/// (`check` warns about them; they are never tracked).
pub fn is_dangerous(url: &str) -> bool {
    let lower: String = url.trim().chars().take(11).collect::<String>().to_ascii_lowercase();
    lower.starts_with("javascript:") || lower.starts_with("data:") || lower.starts_with("vbscript:")
}

/// The `href`s of an HTML part with a scheme [`is_dangerous`] names.
pub fn dangerous_links(html: &str) -> Vec<String> {
    hrefs(html).into_iter().map(|(_, _, url)| url).filter(|u| is_dangerous(u)).collect()
}

/// Replace the `(start, end, url)` spans by their tracked URLs, in order.
fn replace(s: &str, spans: Vec<(usize, usize, String)>, tracked: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len() + spans.len() * 120);
    let mut at = 0;
    for (start, end, url) in spans {
        if let Some(t) = tracked(&url) {
            out.push_str(&s[at..start]);
            out.push_str(&t);
            at = end;
        }
    }
    out.push_str(&s[at..]);
    out
}

/// `{base}/a/@NAME` replaced by the signed answer URL.
fn sign_answers(s: String, delivery_id: i64, lead_id: i64, links: &Links) -> String {
    let marker = format!("{}/a/@", links.base());
    if !s.contains(&marker) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 64);
    let mut rest = s.as_str();
    while let Some(i) = rest.find(&marker) {
        out.push_str(&rest[..i]);
        let after = &rest[i + marker.len()..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
        out.push_str(&links.answer_url(&AnswerToken { delivery_id, lead_id, answer: name.clone() }));
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    out
}

/// Every `href` attribute value of an HTML part: (start, end) of the
/// value as written, and the URL it means (entities decoded).
fn hrefs(html: &str) -> Vec<(usize, usize, String)> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href") {
        let at = from + i;
        from = at + 4;
        let before = lower[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let rest = &lower[from..];
        let eq = rest.len() - rest.trim_start().len();
        if !rest[eq..].starts_with('=') {
            continue;
        }
        let value_at = from + eq + 1;
        let value = &html[value_at..];
        let ws = value.len() - value.trim_start().len();
        let start = value_at + ws;
        let (start, end) = match html[start..].chars().next() {
            Some(q @ ('"' | '\'')) => match html[start + 1..].find(q) {
                Some(len) => (start + 1, start + 1 + len),
                None => continue,
            },
            Some(_) => {
                let len =
                    html[start..].find(|c: char| c.is_ascii_whitespace() || c == '>').unwrap_or(html.len() - start);
                (start, start + len)
            }
            None => continue,
        };
        let url = html_escape::decode_html_entities(html[start..end].trim()).to_string();
        found.push((start, end, url));
        from = end;
    }
    found
}

/// Every http(s) address in a text part: it ends at whitespace, `<`, `>`
/// or `"`, and trailing punctuation a sentence puts after it (`.`, `,`,
/// `)` without its `(`...) is not part of it.
fn text_urls(text: &str) -> Vec<(usize, usize, String)> {
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("http") {
        let start = from + i;
        let rest = &lower[start..];
        if !(rest.starts_with("http://") || rest.starts_with("https://"))
            || lower[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric())
        {
            from = start + 4;
            continue;
        }
        let len = text[start..].find(|c: char| c.is_whitespace() || "<>\"".contains(c)).unwrap_or(text.len() - start);
        let mut url = &text[start..start + len];
        loop {
            let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', ']']);
            let trimmed = match trimmed.strip_suffix(')') {
                Some(t) if trimmed.matches('(').count() < trimmed.matches(')').count() => t,
                _ => trimmed,
            };
            if trimmed.len() == url.len() {
                break;
            }
            url = trimmed;
        }
        if url.len() > "https://".len() {
            found.push((start, start + url.len(), url.to_string()));
        }
        from = start + url.len().max(4);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(text: &str, html: Option<&str>) -> RenderedEmail {
        RenderedEmail { subject: "s".into(), text: text.into(), html: html.map(str::to_string) }
    }

    fn targets(links: &Links, s: &str) -> Vec<ClickToken> {
        let marker = format!("{}/c/", links.base());
        s.match_indices(&marker)
            .filter_map(|(i, _)| {
                let token: String = s[i + marker.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                    .collect();
                links.click(token.trim_end_matches('.'))
            })
            .collect()
    }

    #[test]
    fn every_link_is_tracked_to_its_exact_target_and_own_links_are_not() {
        let links = Links::new("https://n.example", b"k");
        let html = "<html><body><p>Hi \u{e9}</p><a class=x href=\"https://shop.example/p?a=1&amp;b=[2]&amp;c=%41#caf\u{e9}\">P</a>\
            <a href='mailto:x@y.example'>m</a><A HREF=https://docs.example/guide>g</A>\
            <a href=\"https://n.example/u/TOKEN\">unsubscribe</a><a href=\"javascript:alert(1)\">j</a></body></html>";
        let text = "See https://shop.example/p?a=1&b=[2]&c=%41#caf\u{e9}. Or (https://docs.example/guide), \
            and https://n.example/u/TOKEN and http://x.example/\u{fc}ber";
        let out = finish(email(text, Some(html)), 7, 3, &links, true);
        let html = out.html.unwrap();
        let in_html = targets(&links, &html);
        let urls: Vec<&str> = in_html.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(urls, ["https://shop.example/p?a=1&b=[2]&c=%41#caf\u{e9}", "https://docs.example/guide", ""]);
        assert_eq!(in_html.last().unwrap().link, DECOY, "the decoy comes last");
        assert!(in_html.iter().all(|t| t.delivery_id == 7 && t.links == 3), "{in_html:?}");
        assert!(html.contains("href=\"https://n.example/u/TOKEN\"") && html.contains("mailto:x@y.example"));
        assert!(html.contains("javascript:alert(1)"), "never tracked");
        assert!(html.contains("display:none\" aria-hidden=\"true\" tabindex=\"-1\" rel=\"nofollow\"></a></body>"));
        let in_text = targets(&links, &out.text);
        let pairs: Vec<(i64, &str)> = in_text.iter().map(|t| (t.link, t.url.as_str())).collect();
        assert_eq!(
            pairs,
            [
                (0, "https://shop.example/p?a=1&b=[2]&c=%41#caf\u{e9}"),
                (1, "https://docs.example/guide"),
                (2, "http://x.example/\u{fc}ber")
            ],
            "the same link in both parts is one link"
        );
        assert!(out.text.contains("https://n.example/u/TOKEN and"), "{}", out.text);
        assert!(out.text.contains(". Or ("), "sentence punctuation stays outside: {}", out.text);
    }

    #[test]
    fn off_leaves_links_and_still_signs_answers() {
        let links = Links::new("https://n.example", b"k");
        let text = format!("Ready? {} https://x.example", answer_placeholder("https://n.example", "ready"));
        let out = finish(email(&text, None), 5, 9, &links, false);
        assert!(out.text.ends_with(" https://x.example"));
        let token = out.text.split("/a/").nth(1).unwrap().split(' ').next().unwrap();
        assert_eq!(links.answer(token), Some(AnswerToken { delivery_id: 5, lead_id: 9, answer: "ready".into() }));
    }

    #[test]
    fn stray_text_never_panics() {
        let links = Links::new("https://n.example", b"k");
        for s in ["href", "href=", "href=\"", " href='x", "http", "https://", "\u{e9}https://a\u{e9}", "x href =  y"] {
            let out = finish(email(s, Some(s)), 1, 1, &links, true);
            assert!(!out.text.is_empty() || s.is_empty());
        }
    }
}
