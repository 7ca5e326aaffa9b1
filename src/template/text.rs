//! The plain-text part derived from an HTML-only email: what a mail client
//! shows in its text view, so no markdown decoration, and each link as its
//! text followed by its address, `guide (https://...)`, where a reader
//! expects it (html2text's own plain styles write `[guide][1]` with
//! footnotes at the end).

use html2text::render::TextDecorator;

#[derive(Clone, Debug, Default)]
pub struct Links {
    /// The addresses of the links being written, innermost last.
    open: Vec<String>,
}

impl TextDecorator for Links {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, ()) {
        self.open.push(url.to_string());
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        match self.open.pop() {
            Some(url) if !url.is_empty() && !url.starts_with('#') => format!(" ({url})"),
            _ => String::new(),
        }
    }

    fn decorate_em_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_em_end(&self) -> String {
        String::new()
    }

    fn decorate_strong_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strong_end(&self) -> String {
        String::new()
    }

    fn decorate_strikeout_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }

    fn decorate_code_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_code_end(&self) -> String {
        String::new()
    }

    fn decorate_preformat_first(&self) {}

    fn decorate_preformat_cont(&self) {}

    fn decorate_image(&mut self, _src: &str, title: &str) -> (String, ()) {
        (title.to_string(), ())
    }

    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }

    fn quote_prefix(&self) -> String {
        "> ".into()
    }

    fn unordered_item_prefix(&self) -> String {
        "- ".into()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        Links::default()
    }
}

/// Plain text for `html`, 78 columns; a link whose text is its address is
/// written once.
pub fn from_html(html: &str) -> String {
    let text = html2text::config::with_decorator(Links::default())
        .string_from_read(html.as_bytes(), 78)
        .unwrap_or_else(|_| html.to_string());
    // "https://x.test (https://x.test)" -> "https://x.test"
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find(" (") {
        let (before, after) = rest.split_at(open);
        let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
        match after[2..].split_once(')') {
            Some((url, tail)) if !word.is_empty() && url == word => {
                out += before;
                rest = tail;
            }
            _ => {
                out += &rest[..open + 2];
                rest = &rest[open + 2..];
            }
        }
    }
    out + rest
}

/// `html` as a whole document (`<!doctype html>`, `<html lang>`, a head
/// with its charset and a `<body>`), unless the template wrote its own.
pub fn document(html: &str, title: &str, lang: &str) -> String {
    let start = html.trim_start().get(..14).unwrap_or("").to_ascii_lowercase();
    if start.starts_with("<!doctype") || start.starts_with("<html") {
        return html.to_string();
    }
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n</head>\n\
         <body>\n{}\n</body>\n</html>\n",
        handlebars::html_escape(title),
        html.trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_read_as_text_then_address() {
        let text = from_html(
            "<p>Read <a href=\"https://x.test/guide\">the guide</a> or <a href=\"https://x.test\">https://x.test</a>.</p>",
        );
        assert_eq!(text.trim(), "Read the guide (https://x.test/guide) or https://x.test.");
        assert!(!from_html("<p><strong>Hi</strong> <em>there</em></p>").contains('*'));
    }

    #[test]
    fn a_fragment_becomes_a_whole_document_and_a_document_is_left_alone() {
        let doc = document("<p>Hi</p>\n", "Hi & bye", "en");
        assert!(doc.starts_with("<!doctype html>\n<html lang=\"en\">"), "{doc}");
        assert!(doc.contains("<title>Hi &amp; bye</title>") && doc.contains("<body>\n<p>Hi</p>\n</body>"), "{doc}");
        let own = "<!DOCTYPE html><html lang=\"pt\"><body>Olá</body></html>";
        assert_eq!(document(own, "x", "en"), own);
    }
}
