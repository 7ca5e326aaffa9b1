//! Campaigns: who enters (audience), when they are looked for (enrol), when
//! they may be contacted (window), when they leave (exit), and the ordered
//! steps. Loaded and validated by [`load`]; matching rules are pure
//! functions here so the engine, `simulate` and tests share them.

mod file;
pub mod load;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::lead::Lead;
use crate::schedule::{CronSpec, Window};

pub use load::{load_all, load_file};

/// Cron used when a campaign has no `[enrol] cron`: often enough for a
/// CRM-written lead to be picked up within the hour.
pub const DEFAULT_ENROL_CRON: &str = "*/15 * * * *";

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub file: PathBuf,
    pub audience: Audience,
    pub enrol: Enrol,
    pub window: SendWindow,
    pub exit: Exit,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub statuses: Vec<String>,
    /// Empty: any reason.
    pub lost_reasons: Vec<String>,
    pub min_age: Option<TimeDelta>,
    pub max_age: Option<TimeDelta>,
    /// Attribute name -> accepted values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Enrol {
    pub cron: CronSpec,
    pub timezone: Tz,
    /// `None`: a lead never re-enters.
    pub again_after: Option<TimeDelta>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The lead's own zone, or the config's default for leads without one.
    Lead,
    Fixed(Tz),
}

#[derive(Debug, Clone)]
pub struct SendWindow {
    pub window: Window,
    pub zone: Zone,
}

#[derive(Debug, Clone)]
pub struct Exit {
    /// `None`: exit whenever the status leaves `audience.statuses`.
    pub when_status: Option<Vec<String>>,
    pub on_reply: bool,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub after: TimeDelta,
    pub action: Action,
    /// 1-based line:col of the `[[step]]` and of its subject or task text,
    /// for errors found when rendering.
    pub line: (usize, usize),
    pub text_at: (usize, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Email { template: String, subject: String },
    Task { text: String, assign: Assign, due: TimeDelta },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assign {
    Owner,
    Rep(String),
    RoundRobin,
}

impl Audience {
    pub fn matches(&self, lead: &Lead, now: DateTime<Utc>) -> bool {
        let age = now - lead.status_changed_at;
        self.statuses.contains(&lead.status)
            && (self.lost_reasons.is_empty() || self.lost_reasons.contains(&lead.lost_reason))
            && self.min_age.is_none_or(|min| age >= min)
            && self.max_age.is_none_or(|max| age <= max)
            && self.attributes.iter().all(|(k, vs)| lead.attributes.get(k).is_some_and(|v| vs.contains(v)))
    }
}

impl SendWindow {
    pub fn zone_is_fixed(&self) -> bool {
        matches!(self.zone, Zone::Fixed(_))
    }

    /// The zone when it does not depend on the lead (or does not matter).
    pub fn zone_for_any(&self, default: Tz) -> Tz {
        match self.zone {
            Zone::Fixed(tz) => tz,
            Zone::Lead => default,
        }
    }

    pub fn zone_for(&self, lead: &Lead, default: Tz) -> Tz {
        match self.zone {
            Zone::Fixed(tz) => tz,
            Zone::Lead => lead.timezone.unwrap_or(default),
        }
    }
}

impl Campaign {
    /// Why an active enrolment of `lead` must end now, if it must.
    pub fn exit_reason(&self, lead: &Lead) -> Option<String> {
        match &self.exit.when_status {
            Some(list) if list.contains(&lead.status) => Some(format!("status changed to {}", lead.status)),
            Some(_) => None,
            None if !self.audience.statuses.contains(&lead.status) => {
                Some(format!("status {} left the audience", lead.status))
            }
            None => None,
        }
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests;
