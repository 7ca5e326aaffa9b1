//! What the engine did, as one value per action: `simulate --json` prints
//! them, the daemon logs them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::template::context::rfc3339;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Enrolled,
    Email,
    Task,
    Reminder,
    Digest,
    Exited,
    Skipped,
}

/// SPEC §4's event object; keys that do not apply are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    #[serde(serialize_with = "at_utc")]
    pub at: DateTime<Utc>,
    pub event: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

fn at_utc<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

impl Event {
    pub fn new(at: DateTime<Utc>, event: Kind) -> Event {
        Event { at, event, campaign: None, step: None, lead: None, to: None, subject: None, reason: None, count: None }
    }

    pub fn campaign(mut self, c: &str) -> Event {
        self.campaign = Some(c.to_string());
        self
    }

    pub fn step(mut self, s: &str) -> Event {
        self.step = Some(s.to_string());
        self
    }

    pub fn lead(mut self, l: &str) -> Event {
        self.lead = Some(l.to_string());
        self
    }

    pub fn to(mut self, t: &str) -> Event {
        self.to = Some(t.to_string());
        self
    }

    pub fn subject(mut self, s: &str) -> Event {
        self.subject = Some(s.to_string());
        self
    }

    pub fn reason(mut self, r: &str) -> Event {
        self.reason = Some(r.to_string());
        self
    }

    pub fn count(mut self, n: usize) -> Event {
        self.count = Some(n);
        self
    }

    /// One human-readable line, for `simulate` without `--json`.
    pub fn line(&self) -> String {
        let mut out = format!("{} {:<8}", rfc3339(self.at), format!("{:?}", self.event).to_lowercase());
        for (k, v) in [
            ("campaign", &self.campaign),
            ("step", &self.step),
            ("lead", &self.lead),
            ("to", &self.to),
            ("subject", &self.subject),
            ("reason", &self.reason),
        ] {
            if let Some(v) = v {
                out += &format!(" {k}={v:?}");
            }
        }
        if let Some(n) = self.count {
            out += &format!(" count={n}");
        }
        out
    }
}

/// Where events go.
pub trait Sink: Send + Sync {
    fn emit(&self, event: Event);
}

/// The daemon's sink: one structured log event per action, fields first.
pub struct LogSink;

impl Sink for LogSink {
    fn emit(&self, e: Event) {
        crate::http::metrics::event(&e.event, e.campaign.as_deref());
        let (campaign, step, lead) = (e.campaign.as_deref(), e.step.as_deref(), e.lead.as_deref());
        let (to, subject, reason) = (e.to.as_deref(), e.subject.as_deref(), e.reason.as_deref());
        match e.event {
            Kind::Enrolled => tracing::info!(campaign, lead, "Lead enrolled."),
            Kind::Email => tracing::info!(campaign, step, lead, subject, "Email sent."),
            Kind::Task => tracing::info!(campaign, step, lead, to, subject, "Task created."),
            Kind::Reminder => tracing::info!(campaign, step, lead, to, "Task reminder sent."),
            Kind::Digest => tracing::info!(to, count = e.count, "Digest sent."),
            Kind::Exited => tracing::info!(campaign, lead, reason, "Enrolment ended."),
            Kind::Skipped => tracing::warn!(campaign, step, lead, to, reason, "Step not carried out."),
        }
    }
}
