//! The optional reps file: who can be assigned tasks round-robin, their
//! names for templates, their zones for digests and their working hours
//! for hand-offs.

use std::path::Path;

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Diagnostics;
use crate::fields::{Fields, parse_toml};
use crate::schedule::Window;
use crate::source::Source;

#[derive(Debug, Clone, PartialEq)]
pub struct Rep {
    pub email: String,
    pub name: String,
    pub timezone: Option<Tz>,
    /// Working hours (`days`, `hours`), in the rep's zone: a hand-off's
    /// `due` is counted in them. `None`: every hour counts.
    pub hours: Option<Window>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepsFile {
    #[serde(default)]
    rep: Vec<RepEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepEntry {
    email: Spanned<String>,
    #[serde(default)]
    name: String,
    timezone: Option<Spanned<String>>,
    /// Working days, e.g. `["Mon", "Tue", "Wed", "Thu", "Fri"]`.
    days: Option<Spanned<Vec<String>>>,
    /// Working hours, e.g. `"09:00-17:30"`.
    hours: Option<Spanned<String>>,
}

/// `days` and `hours` as one window; either alone: all day on those days,
/// or those hours every day.
fn working_hours(
    f: &mut Fields,
    days: Option<&Spanned<Vec<String>>>,
    hours: Option<&Spanned<String>>,
) -> Option<Window> {
    if days.is_none() && hours.is_none() {
        return None;
    }
    let mut w = Window::always();
    if let Some(days) = days {
        w.days = [false; 7];
        for d in days.get_ref() {
            match crate::schedule::window::parse_day(d.trim()) {
                Ok(d) => w.days[d.num_days_from_monday() as usize] = true,
                Err(e) => f.error(days, e),
            }
        }
        if w.days == [false; 7] {
            f.error(
                days,
                "days is empty: list the rep's working days, e.g. [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\"]",
            );
            return None;
        }
    }
    if let Some(h) = hours {
        (w.start, w.end) = f.parse(h, |s| crate::schedule::window::parse_hours(s))?;
    }
    Some(w)
}

pub fn load(path: &Path, diags: &mut Diagnostics) -> Vec<Rep> {
    let source = match Source::read(path) {
        Ok(s) => s,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    let Some(file) = parse_toml::<RepsFile>(&source, diags) else {
        return Vec::new();
    };
    let mut f = Fields::new(&source, diags);
    let mut reps: Vec<Rep> = Vec::new();
    for entry in file.rep {
        let email = entry.email.get_ref().trim().to_lowercase();
        if crate::email::parse_address(&email).is_err() {
            f.error(&entry.email, format!("{email:?} is not an email address"));
            continue;
        }
        if reps.iter().any(|r| r.email == email) {
            f.error(&entry.email, format!("rep {email} is listed twice"));
            continue;
        }
        let timezone = entry.timezone.as_ref().and_then(|z| f.zone(z));
        let hours = working_hours(&mut f, entry.days.as_ref(), entry.hours.as_ref());
        reps.push(Rep { email, name: entry.name, timezone, hours });
    }
    if reps.is_empty() {
        diags.push(source.error_at(None, "no [[rep]] entries; add at least one with email = \"...\""));
    }
    reps
}
