//! The optional reps file: who can be assigned tasks round-robin, their
//! names for templates and their zones for digests.

use std::path::Path;

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Diagnostics;
use crate::fields::{Fields, parse_toml};
use crate::source::Source;

#[derive(Debug, Clone, PartialEq)]
pub struct Rep {
    pub email: String,
    pub name: String,
    pub timezone: Option<Tz>,
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
        reps.push(Rep { email, name: entry.name, timezone });
    }
    if reps.is_empty() {
        diags.push(source.error_at(None, "no [[rep]] entries; add at least one with email = \"...\""));
    }
    reps
}
