//! Parsing of individual TOML values that serde reads as strings (durations,
//! zones, cron, dates), reporting a failure at the value's own position and
//! carrying on, so one `check` lists every problem in a file.

use chrono::TimeDelta;
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::diag::Diagnostics;
use crate::schedule::CronSpec;
use crate::source::Source;

pub struct Fields<'a> {
    pub source: &'a Source,
    pub diags: &'a mut Diagnostics,
}

impl<'a> Fields<'a> {
    pub fn new(source: &'a Source, diags: &'a mut Diagnostics) -> Self {
        Fields { source, diags }
    }

    pub fn error<T>(&mut self, value: &Spanned<T>, message: impl Into<String>) {
        self.diags.push(self.source.error_at(Some(value.span()), message));
    }

    pub fn warn<T>(&mut self, value: &Spanned<T>, message: impl Into<String>) {
        self.diags.push(self.source.warning_at(Some(value.span()), message));
    }

    /// Apply `parse` to a value, recording its error at the value.
    pub fn parse<T, R>(&mut self, value: &Spanned<T>, parse: impl FnOnce(&T) -> Result<R, String>) -> Option<R> {
        match parse(value.get_ref()) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(value, e);
                None
            }
        }
    }

    pub fn duration(&mut self, value: &Spanned<String>) -> Option<TimeDelta> {
        self.parse(value, |s| crate::duration::parse(s).map_err(|e| e.to_string()))
    }

    pub fn zone(&mut self, value: &Spanned<String>) -> Option<Tz> {
        if let Some(w) = fixed_offset_warning(value.get_ref()) {
            self.warn(value, w);
        }
        self.parse(value, |s| parse_zone(s))
    }

    pub fn cron(&mut self, value: &Spanned<String>) -> Option<CronSpec> {
        self.parse(value, |s| CronSpec::parse(s))
    }
}

pub fn parse_zone(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>().map_err(|_| match Tz::from_str_insensitive(s) {
        Ok(tz) => format!("unknown time zone {s:?}; did you mean {:?}?", tz.name()),
        Err(_) => match nearest(s, chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()), 3) {
            Some(near) => format!("unknown time zone {s:?}; did you mean {near:?}?"),
            None => format!("unknown time zone {s:?}; use an IANA name such as \"Europe/London\" or \"UTC\""),
        },
    })
}

/// Zones that are a fixed offset all year (no daylight saving), though
/// their names suggest a region that has it.
const FIXED: [(&str, &str); 5] = [
    ("EST", "America/New_York"),
    ("MST", "America/Denver"),
    ("HST", "Pacific/Honolulu"),
    ("GMT", "Europe/London"),
    ("EET", "Europe/Athens"),
];

/// A warning for a zone name that is a fixed offset where a reader would
/// expect daylight-saving time.
pub fn fixed_offset_warning(s: &str) -> Option<String> {
    let (name, city) = FIXED.iter().find(|(n, _)| n.eq_ignore_ascii_case(s.trim()))?;
    Some(format!(
        "time zone {name:?} is a fixed offset with no daylight-saving time (sends would move by an hour for half \
         the year); for the region, use {city:?}"
    ))
}

/// The candidate closest to `given` within `max` edits (case-insensitive).
pub fn nearest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>, max: usize) -> Option<&'a str> {
    let given = given.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&given, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= max)
        .min()
        .map(|(_, c)| c)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with the nearest
/// expected name suggested.
fn suggest_field(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return message.to_string() };
    let Some((unknown, expected)) = rest.split_once('`') else { return message.to_string() };
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match nearest(unknown, names, 3) {
        Some(near) => format!("{message}; did you mean `{near}`?"),
        None => message.to_string(),
    }
}

/// Deserialize a whole TOML file, turning serde's first error (unknown key,
/// wrong type, bad syntax) into a positioned diagnostic.
pub fn parse_toml<T: DeserializeOwned>(source: &Source, diags: &mut Diagnostics) -> Option<T> {
    match toml::from_str::<T>(&source.text) {
        Ok(v) => Some(v),
        Err(e) => {
            let message = suggest_field(&e.message().trim().replace('\n', " "));
            diags.push(source.error_at(e.span(), message));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_typos_get_a_suggestion() {
        assert_eq!(parse_zone("Europe/London"), Ok(chrono_tz::Europe::London));
        let msg = parse_zone("europe/london").unwrap_err();
        assert!(msg.contains("did you mean \"Europe/London\""), "{msg}");
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
        let msg = parse_zone("America/New_Yrok").unwrap_err();
        assert!(msg.contains("did you mean \"America/New_York\""), "{msg}");
        assert!(fixed_offset_warning("EST").unwrap().contains("America/New_York"));
        assert!(fixed_offset_warning("Europe/London").is_none());
    }

    #[test]
    fn unknown_keys_get_the_nearest_known_one() {
        let m = "unknown field `skip_date`, expected one of `days`, `hours`, `skip_dates`";
        assert_eq!(suggest_field(m), format!("{m}; did you mean `skip_dates`?"));
        let far = "unknown field `colour`, expected `days` or `hours`";
        assert_eq!(suggest_field(far), far);
    }
}
