//! Campaigns: who enters (audience), when they are looked for (enrol), when
//! they may be contacted (window), when they leave (exit), and the ordered
//! steps. Loaded and validated by [`load`]; matching rules are pure
//! functions here so the engine, `simulate` and tests share them.

pub mod edit;
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
    /// `[tracking] links` of the campaign file; `None`: the config's.
    pub track_links: Option<bool>,
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
    /// `[[step.variant]]` of an email step, each complete (what a variant
    /// leaves out is the step's); empty: the step has one form.
    pub variants: Vec<Variant>,
    /// `[step.test]`: how the variants compete; `None`: they share the
    /// leads by weight for good (or until a winner is set by hand).
    pub test: Option<crate::abtest::decide::Test>,
}

/// One form of an email step (README, *A/B tests*).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub id: String,
    pub template: String,
    /// Its subject as written: its own, or the step's when it has none
    /// (`own_subject` false; rendered from the step's template then).
    pub subject: String,
    pub own_subject: bool,
    pub weight: f64,
    /// 1-based line:col of the `[[step.variant]]` and of its subject.
    pub line: (usize, usize),
    pub text_at: (usize, usize),
}

impl Variant {
    /// The inline template name of a variant's own subject.
    pub fn subject_name(campaign: &str, step: &str, variant: &str) -> String {
        crate::template::inline_name(campaign, &format!("{step}#{variant}"))
    }
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

/// The first audience rule a lead fails, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outside {
    Status {
        status: String,
        wanted: Vec<String>,
    },
    LostReason {
        reason: String,
        wanted: Vec<String>,
    },
    /// `min_age` is reached then.
    TooRecent {
        from: DateTime<Utc>,
    },
    /// `max_age` passed then.
    TooOld {
        since: DateTime<Utc>,
    },
    Attribute {
        name: String,
        value: Option<String>,
        wanted: Vec<String>,
    },
}

impl std::fmt::Display for Outside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = crate::template::context::rfc3339;
        match self {
            Outside::Status { status, wanted } => {
                write!(f, "status {status} is not in the audience ({})", wanted.join(", "))
            }
            Outside::LostReason { reason, wanted } => {
                write!(f, "lost_reason {reason:?} is not one of the audience's ({})", wanted.join(", "))
            }
            Outside::TooRecent { from } => write!(f, "min_age: the status is too recent until {}", t(*from)),
            Outside::TooOld { since } => write!(f, "max_age: the status is too old since {}", t(*since)),
            Outside::Attribute { name, value: Some(v), wanted } => {
                write!(f, "attribute {name} is {v:?}, not one of {}", wanted.join(", "))
            }
            Outside::Attribute { name, value: None, wanted } => {
                write!(f, "attribute {name} is missing (wanted one of {})", wanted.join(", "))
            }
        }
    }
}

impl Audience {
    pub fn matches(&self, lead: &Lead, now: DateTime<Utc>) -> bool {
        self.why_not(lead, now).is_none()
    }

    /// The rule that keeps `lead` out of this audience at `now`, in the
    /// order the README lists them; `None`: it matches.
    pub fn why_not(&self, lead: &Lead, now: DateTime<Utc>) -> Option<Outside> {
        let age = now - lead.status_changed_at;
        if !self.statuses.contains(&lead.status) {
            return Some(Outside::Status { status: lead.status.clone(), wanted: self.statuses.clone() });
        }
        if !self.lost_reasons.is_empty() && !self.lost_reasons.contains(&lead.lost_reason) {
            return Some(Outside::LostReason { reason: lead.lost_reason.clone(), wanted: self.lost_reasons.clone() });
        }
        if let Some(min) = self.min_age.filter(|min| age < *min) {
            return Some(Outside::TooRecent { from: lead.status_changed_at + min });
        }
        if let Some(max) = self.max_age.filter(|max| age > *max) {
            return Some(Outside::TooOld { since: lead.status_changed_at + max });
        }
        self.attributes.iter().find(|(k, vs)| !lead.attributes.get(*k).is_some_and(|v| vs.contains(v))).map(
            |(k, vs)| Outside::Attribute {
                name: k.clone(),
                value: lead.attributes.get(k).cloned(),
                wanted: vs.clone(),
            },
        )
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

/// What one email goes out as: its body template and the name of its
/// subject's template (a variant's, or the step's).
#[derive(Debug, Clone, PartialEq)]
pub struct Form<'a> {
    pub template: &'a str,
    pub subject: String,
    /// The variant's id; empty for a step without variants.
    pub variant: &'a str,
}

impl Step {
    /// The variant `lead_email` gets (README, *A/B tests*): `winner` when
    /// one is set and still defined, else the stable hash on the weights.
    /// `None` for a step without variants.
    pub fn variant_for(&self, campaign: &str, lead_email: &str, winner: Option<&str>) -> Option<&Variant> {
        if self.variants.is_empty() {
            return None;
        }
        if let Some(w) = winner.and_then(|w| self.variants.iter().find(|v| v.id == w)) {
            return Some(w);
        }
        let weights: Vec<f64> = self.variants.iter().map(|v| v.weight).collect();
        let at = crate::abtest::assign::point(lead_email, campaign, &self.id);
        self.variants.get(crate::abtest::assign::pick(&weights, at))
    }

    /// The email this step sends as `variant` (`None`: the step's own
    /// form, or its first variant's); `None` for a task step.
    pub fn form<'a>(&'a self, campaign: &str, variant: Option<&'a Variant>) -> Option<Form<'a>> {
        let Action::Email { template, .. } = &self.action else { return None };
        let step_subject = crate::template::inline_name(campaign, &self.id);
        Some(match variant.or(self.variants.first()) {
            Some(v) => Form {
                template: &v.template,
                subject: if v.own_subject { Variant::subject_name(campaign, &self.id, &v.id) } else { step_subject },
                variant: &v.id,
            },
            None => Form { template, subject: step_subject, variant: "" },
        })
    }
}

#[cfg(test)]
mod tests;
