//! A person's reply: what they wrote, without the quoted message under or
//! around it, as the first lines a rep reads in the notice.

/// Lines that start the quoted original in the clients we meet (Gmail,
/// Outlook, Apple Mail, Thunderbird; English, German, French, Spanish).
const QUOTE_STARTS: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-------- original message --------",
    "-------- ursprüngliche nachricht --------",
    "-----ursprüngliche nachricht-----",
    "-------- message original --------",
    "-----message d'origine-----",
    "-------- mensaje original --------",
    "-----mensaje original-----",
    "________________________________",
    "sent from my iphone",
    "von meinem iphone gesendet",
];

/// The first `max` lines the person wrote.
pub fn first_lines(text: &str, max: usize) -> String {
    let mut out: Vec<&str> = vec![];
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim();
        let lower = l.to_lowercase();
        if l.starts_with('>')
            || QUOTE_STARTS.iter().any(|q| lower.starts_with(q))
            || is_attribution(&lower, lines.get(i + 1))
        {
            break;
        }
        if header_block(&lower) {
            break;
        }
        if l == "--" || l == "-- " {
            break;
        }
        if !l.is_empty() || out.last().is_some_and(|p| !p.is_empty()) {
            out.push(l);
        }
        if out.iter().filter(|l| !l.is_empty()).count() >= max {
            break;
        }
    }
    out.join("\n").trim().to_string()
}

/// "On Tue, 1 Dec 2026 at 10:00, Ana <ana@x> wrote:" (possibly wrapped
/// over two lines), and its German, French and Spanish forms.
fn is_attribution(lower: &str, next: Option<&&str>) -> bool {
    let joined = match next {
        Some(n) => format!("{lower} {}", n.trim().to_lowercase()),
        None => lower.to_string(),
    };
    let starts = ["on ", "am ", "le ", "el ", "em "].iter().any(|s| lower.starts_with(s));
    let ends = |s: &str| {
        ["wrote:", "schrieb:", "a écrit :", "a écrit:", "escribió:", "escreveu:"]
            .iter()
            .any(|e| s.trim_end().ends_with(e))
    };
    starts && (ends(lower) || ends(&joined))
}

/// Outlook's quoted header block ("From: ... Sent: ...").
fn header_block(lower: &str) -> bool {
    ["from: ", "von: ", "de : ", "de: "].iter().any(|s| lower.starts_with(s)) && lower.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_and_signatures_are_left_out() {
        let t =
            "Thanks, call me in March.\nBest, Ana\n\nOn Tue, 1 Dec 2026 at 10:00, Sales <s@x.test>\nwrote:\n> Hi Ana";
        assert_eq!(first_lines(t, 5), "Thanks, call me in March.\nBest, Ana");
        let o = "Sounds good.\n\nFrom: Sales <s@x.test>\nSent: Tuesday\nSubject: hi";
        assert_eq!(first_lines(o, 5), "Sounds good.");
        assert_eq!(first_lines("a\nb\nc\nd", 2), "a\nb");
    }
}
