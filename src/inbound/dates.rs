//! The return date an out-of-office reply states: "back on 12 January",
//! "until 05.01.2027", "de retour le 12 janvier", "hasta el 12 de enero".
//! A date right after a word of return ("back", "until", "bis", "retour",
//! "hasta", ...) wins; else the latest date in the text. A date without a
//! year is its next occurrence after the message was sent; a date in the
//! past or more than a year ahead is not a return date.

use chrono::{Datelike, NaiveDate, TimeDelta};

/// The return date in `text`, for a message sent on `sent`.
pub fn return_date(text: &str, sent: NaiveDate) -> Option<NaiveDate> {
    let text: String = text.chars().take(4000).collect::<String>().to_lowercase();
    let words = tokens(&text);
    let mut found: Vec<(bool, NaiveDate)> = vec![];
    for (i, (at, _)) in words.iter().enumerate() {
        let Some(date) = date_at(&words, i, sent) else { continue };
        let window = &text[super::view::floor_char(&text, at.saturating_sub(48))..*at];
        found.push((RETURN_WORDS.iter().any(|w| window.contains(w)), date));
    }
    let plausible = |d: &NaiveDate| *d >= sent && *d <= sent + TimeDelta::days(366);
    let keyed = found.iter().filter(|(k, d)| *k && plausible(d)).map(|(_, d)| *d).max();
    keyed.or_else(|| found.iter().filter(|(_, d)| plausible(d)).map(|(_, d)| *d).max())
}

const RETURN_WORDS: &[&str] = &[
    "back",
    "return",
    "until",
    "till",
    "'til",
    "through",
    "again on",
    "again from",
    "from",
    "reachable",
    "wieder",
    "zurück",
    "zuruck",
    "bis",
    "ab dem",
    "ab ",
    "retour",
    "jusqu",
    "à partir",
    "a partir",
    "reviens",
    "hasta",
    "regreso",
    "regresar",
    "volver",
    "vuelta",
    "de nuevo",
];

/// Words with their byte offsets; digits and letters stay together,
/// `05.01.2027` and `05/01` are one word.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = vec![];
    let mut start = None;
    for (i, c) in text.char_indices() {
        let part = c.is_alphanumeric() || ((c == '.' || c == '/' || c == '-') && start.is_some());
        match (part, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out.iter().map(|(s, w)| (*s, w.trim_end_matches(['.', '/', '-']))).collect()
}

/// A date starting at word `i`.
fn date_at(words: &[(usize, &str)], i: usize, sent: NaiveDate) -> Option<NaiveDate> {
    let w = words[i].1;
    if let Some(d) = numeric(w, sent) {
        return Some(d);
    }
    // "12 January", "12th of January", "12. Januar", "12 de enero", "1er janvier"
    if let Some(day) = day_number(w) {
        let mut j = i + 1;
        if words.get(j).is_some_and(|(_, x)| *x == "de" || *x == "of") {
            j += 1;
        }
        if let Some(month) = words.get(j).and_then(|(_, x)| month_number(x)) {
            let year = words.get(j + 1).and_then(|(_, x)| year_number(x));
            return resolve(day, month, year, sent);
        }
    }
    // "January 12", "Jan. 12th, 2027"
    if let Some(month) = month_number(w)
        && let Some(day) = words.get(i + 1).and_then(|(_, x)| day_number(x))
    {
        let year = words.get(i + 2).and_then(|(_, x)| year_number(x));
        return resolve(day, month, year, sent);
    }
    None
}

/// `05.01.2027`, `5.1.`, `05/01/27`, `2027-01-05`.
fn numeric(w: &str, sent: NaiveDate) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(w, "%Y-%m-%d") {
        return Some(d);
    }
    let sep = if w.contains('.') {
        '.'
    } else if w.contains('/') {
        '/'
    } else {
        return None;
    };
    let parts: Vec<&str> = w.split(sep).filter(|p| !p.is_empty()).collect();
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 4) {
        return None;
    }
    let a: u32 = parts[0].parse().ok()?;
    let b: u32 = parts[1].parse().ok()?;
    let year = parts.get(2).and_then(|y| year_number(y));
    // Dots: day first, as Europe writes them. Slashes are read both ways
    // (`11/01` in Madrid, `1/11` in Boston): the nearer plausible date wins,
    // as an absence is more likely weeks than months long.
    if sep == '/' {
        return [resolve(a, b, year, sent), resolve(b, a, year, sent)].into_iter().flatten().min();
    }
    resolve(a, b, year, sent)
}

fn day_number(w: &str) -> Option<u32> {
    let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
    let rest = &w[digits.len()..];
    if digits.is_empty() || !["", "st", "nd", "rd", "th", "er", "e", "º", "o"].contains(&rest) {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn year_number(w: &str) -> Option<i32> {
    let y: i32 = w.parse().ok()?;
    match w.len() {
        4 if (2000..2100).contains(&y) => Some(y),
        2 => Some(2000 + y),
        _ => None,
    }
}

fn month_number(w: &str) -> Option<u32> {
    const MONTHS: [&[&str]; 12] = [
        &["january", "jan", "januar", "jänner", "janvier", "janv", "enero", "ene"],
        &["february", "feb", "februar", "février", "fevrier", "févr", "fevr", "febrero"],
        &["march", "mar", "märz", "maerz", "mars", "marzo"],
        &["april", "apr", "avril", "avr", "abril", "abr"],
        &["may", "mai", "mayo"],
        &["june", "jun", "juni", "juin", "junio"],
        &["july", "jul", "juli", "juillet", "juil", "julio"],
        &["august", "aug", "août", "aout", "agosto", "ago"],
        &["september", "sep", "sept", "septembre", "septiembre", "setiembre"],
        &["october", "oct", "oktober", "okt", "octobre", "octubre"],
        &["november", "nov", "novembre", "noviembre"],
        &["december", "dec", "dezember", "dez", "décembre", "decembre", "déc", "diciembre", "dic"],
    ];
    MONTHS.iter().position(|names| names.contains(&w)).map(|i| i as u32 + 1)
}

/// The date, its year the next one after `sent` when not given.
fn resolve(day: u32, month: u32, year: Option<i32>, sent: NaiveDate) -> Option<NaiveDate> {
    match year {
        Some(y) => NaiveDate::from_ymd_opt(y, month, day),
        None => {
            let this = NaiveDate::from_ymd_opt(sent.year(), month, day)?;
            if this + TimeDelta::days(7) < sent {
                NaiveDate::from_ymd_opt(sent.year() + 1, month, day)
            } else {
                Some(this)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(text: &str) -> Option<String> {
        return_date(text, NaiveDate::from_ymd_opt(2026, 12, 20).unwrap()).map(|d| d.to_string())
    }

    #[test]
    fn reads_return_dates_in_four_languages() {
        assert_eq!(on("I am out of the office and back on 12 January.").as_deref(), Some("2027-01-12"));
        assert_eq!(on("Ich bin bis 05.01.2027 nicht im Büro.").as_deref(), Some("2027-01-05"));
        assert_eq!(on("Je suis absent, de retour le 12 janvier.").as_deref(), Some("2027-01-12"));
        assert_eq!(on("Estoy fuera de la oficina hasta el 12 de enero.").as_deref(), Some("2027-01-12"));
        assert_eq!(on("Out from December 21st until January 4th, 2027").as_deref(), Some("2027-01-04"));
        assert_eq!(on("Ich bin vom 21.12. bis 6.1. im Urlaub").as_deref(), Some("2027-01-06"));
        assert_eq!(on("back 2027-01-03").as_deref(), Some("2027-01-03"));
    }

    #[test]
    fn no_date_or_a_past_one_is_none() {
        assert_eq!(on("I am out of the office with limited access to email."), None);
        assert_eq!(on("I was back on 12.03.2025."), None);
        assert_eq!(on("I may be slow to answer"), None);
    }
}
