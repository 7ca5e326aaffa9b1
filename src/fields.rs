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
        self.parse(value, |s| parse_zone(s))
    }

    pub fn cron(&mut self, value: &Spanned<String>) -> Option<CronSpec> {
        self.parse(value, |s| CronSpec::parse(s))
    }
}

pub fn parse_zone(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>().map_err(|_| match Tz::from_str_insensitive(s) {
        Ok(tz) => format!("unknown time zone {s:?}; did you mean {:?}?", tz.name()),
        Err(_) => format!("unknown time zone {s:?}; use an IANA name such as \"Europe/London\" or \"UTC\""),
    })
}

/// Deserialize a whole TOML file, turning serde's first error (unknown key,
/// wrong type, bad syntax) into a positioned diagnostic.
pub fn parse_toml<T: DeserializeOwned>(source: &Source, diags: &mut Diagnostics) -> Option<T> {
    match toml::from_str::<T>(&source.text) {
        Ok(v) => Some(v),
        Err(e) => {
            let message = e.message().trim().replace('\n', " ");
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
    }
}
