//! What the engine did, as one value per action: `simulate --json` prints
//! them, the daemon logs them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::telemetry::{self, Counter};
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
    /// Inbound mail (README, *Inbound mail*).
    Replied,
    Bounced,
    Complaint,
    /// The lead's steps wait for `until` (an automatic reply).
    Paused,
    Resumed,
    /// The lead is ready and was handed to a rep (README, *Readiness and
    /// hand-off*); `to` is the rep, `reason` why.
    Handoff,
    /// A hand-off's task was not done in time: `to` is who was told.
    Escalated,
    /// A lead answered from an email (`reason`: the answer's name).
    Answered,
    /// An A/B test has a winner (`variant`; `reason`: the figures).
    Winner,
}

/// The event object of `simulate --json` (README, *Commands*); keys that
/// do not apply are left out.
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
    /// `email`: the variant sent (a step with variants); `winner`: the
    /// winning one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// `paused`: until when (RFC 3339, in the lead's zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// For logs only: logs name a lead by id, never by address.
    #[serde(skip)]
    pub lead_id: Option<i64>,
    /// For logs only: how long the SMTP or outbox hand-off took.
    #[serde(skip)]
    pub elapsed: Elapsed,
}

/// A measurement, not part of what happened: two runs that did the same
/// thing compare equal however long their sends took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Elapsed(pub Option<std::time::Duration>);

impl PartialEq for Elapsed {
    fn eq(&self, _: &Elapsed) -> bool {
        true
    }
}

impl Eq for Elapsed {}

pub fn at_utc<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

impl Event {
    pub fn new(at: DateTime<Utc>, event: Kind) -> Event {
        Event {
            at,
            event,
            campaign: None,
            step: None,
            lead: None,
            to: None,
            subject: None,
            variant: None,
            reason: None,
            count: None,
            until: None,
            lead_id: None,
            elapsed: Elapsed(None),
        }
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

    /// The lead by address (for `simulate`) and by id (for logs).
    pub fn for_lead(mut self, l: &crate::lead::Lead) -> Event {
        self.lead_id = Some(l.id);
        self.lead(&l.email)
    }

    pub fn elapsed(mut self, d: std::time::Duration) -> Event {
        self.elapsed = Elapsed(Some(d));
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

    /// A variant's id; empty (a step without variants) leaves it out.
    pub fn variant(mut self, v: &str) -> Event {
        self.variant = (!v.is_empty()).then(|| v.to_string());
        self
    }

    pub fn reason(mut self, r: &str) -> Event {
        self.reason = Some(r.to_string());
        self
    }

    pub fn until(mut self, u: &str) -> Event {
        self.until = Some(u.to_string());
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
            ("variant", &self.variant),
            ("reason", &self.reason),
            ("until", &self.until),
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

    /// A timed enrolment sweep finished (`full`: every lead considered,
    /// not only those changed since the last sweep). For ops, not a step.
    fn swept(&self, _campaign: &str, _full: bool, _enrolled: usize, _elapsed: std::time::Duration) {}

    /// Whether this sink needs an `enrolled` event per lead (`simulate`
    /// prints them); the daemon's log takes a sweep's count instead.
    fn wants_each_enrolment(&self) -> bool {
        true
    }
}

/// The daemon's sink: one structured log event per action, fields first.
/// Leads appear as `lead_id` only: addresses and bodies stay out of logs
/// (a rep's address, `to`, is staff data and helps ops find a digest).
pub struct LogSink;

impl Sink for LogSink {
    fn emit(&self, e: Event) {
        count(&e);
        let (campaign, step, lead_id) = (e.campaign.as_deref(), e.step.as_deref(), e.lead_id);
        let (to, reason) = (e.to.as_deref(), e.reason.as_deref());
        let duration_ms = e.elapsed.0.map(telemetry::ms);
        match e.event {
            Kind::Enrolled => tracing::info!(campaign, lead_id, "Lead enrolled."),
            Kind::Email => tracing::info!(campaign, step, lead_id, duration_ms, "Email sent."),
            Kind::Task => tracing::info!(campaign, step, lead_id, to, "Task created."),
            Kind::Reminder => tracing::info!(campaign, step, lead_id, to, duration_ms, "Task reminder sent."),
            Kind::Digest => tracing::info!(to, count = e.count, duration_ms, "Digest sent."),
            Kind::Exited => tracing::info!(campaign, lead_id, reason, "Enrolment ended."),
            Kind::Skipped => tracing::warn!(campaign, step, lead_id, to, reason, duration_ms, "Step not carried out."),
            Kind::Replied => tracing::info!(campaign, step, lead_id, to, "The lead replied."),
            Kind::Bounced => tracing::warn!(campaign, step, lead_id, reason, "A bounce came back by email."),
            Kind::Complaint => tracing::warn!(campaign, step, lead_id, reason, "The lead marked an email as spam."),
            Kind::Paused => {
                tracing::info!(lead_id, until = e.until.as_deref(), reason, "Lead out of office: steps wait.")
            }
            Kind::Resumed => tracing::info!(lead_id, "Lead back: steps go on."),
            Kind::Handoff => tracing::info!(campaign, step, lead_id, to, reason, "Lead ready: handed to a rep."),
            Kind::Escalated => tracing::warn!(lead_id, to, reason, "A hand-off was not done in time: escalated."),
            Kind::Answered => tracing::info!(campaign, step, lead_id, reason, "The lead answered from an email."),
            Kind::Winner => {
                let variant = e.variant.as_deref();
                tracing::info!(campaign, step, variant, reason, "A/B test won: later leads get this variant.")
            }
        }
    }

    fn wants_each_enrolment(&self) -> bool {
        false
    }

    fn swept(&self, campaign: &str, full: bool, enrolled: usize, elapsed: std::time::Duration) {
        telemetry::sweep_seconds(elapsed.as_secs_f64());
        let duration_ms = telemetry::ms(elapsed);
        tracing::info!(campaign, full, enrolled, duration_ms, "Sweep done.");
    }
}

/// The counter an event adds to; reminders and digests are not counted
/// per campaign.
fn count(e: &Event) {
    let campaign = Some(e.campaign.as_deref().unwrap_or(""));
    let (counter, campaign) = match e.event {
        Kind::Email => (Counter::EmailsSent, campaign),
        Kind::Task => (Counter::TasksCreated, campaign),
        Kind::Enrolled => (Counter::Enrolments, campaign),
        Kind::Exited => (Counter::Exits, campaign),
        Kind::Skipped => (Counter::Failures, campaign),
        Kind::Reminder => (Counter::RemindersSent, None),
        Kind::Digest => (Counter::DigestsSent, None),
        Kind::Handoff => (Counter::Handoffs, None),
        Kind::Winner => (Counter::TestWinners, campaign),
        // Inbound mail is counted by kind where it is handled.
        Kind::Replied
        | Kind::Bounced
        | Kind::Complaint
        | Kind::Paused
        | Kind::Resumed
        | Kind::Escalated
        | Kind::Answered => return,
    };
    telemetry::count(counter, campaign, 1);
}
