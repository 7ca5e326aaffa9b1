//! Guardrails: pauses that stop a sending problem from growing. A
//! campaign whose bounce rate over `[guardrails] window` passes
//! `max_bounce_rate`, or whose complaint rate passes `max_complaint_rate`
//! (once `min_sample` emails went out), pauses itself; a
//! refusal of our sending as such (5.7.x, authentication) pauses all
//! sending. A pause is stored (replicas share it, restarts keep it),
//! logged, counted, and emailed once to `guardrails.notify`; steps due
//! meanwhile wait and go out once after `nurture campaigns resume`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Engine, Result};
use crate::campaign::Campaign;
use crate::mail::Outgoing;
use crate::store::Pause;
use crate::store::pauses::ALL;
use crate::telemetry::{self, Counter};

/// The rates a campaign is paused for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rate {
    Bounce,
    Complaint,
}

/// The pauses in force, as this engine last read them.
#[derive(Debug, Default)]
pub(super) struct Paused {
    all: bool,
    campaigns: HashSet<String>,
}

impl Engine {
    /// Read the pauses in force (at each tick and each batch, so a pause
    /// stored by another replica or the CLI holds here soon after; the
    /// attempt itself is refused by the database at once).
    pub(super) async fn refresh_pauses(&self) -> Result<()> {
        let stored = self.store.pauses().await?;
        let now = Paused {
            all: stored.iter().any(|p| p.scope == ALL),
            campaigns: stored.iter().filter(|p| p.scope != ALL).map(|p| p.scope.clone()).collect(),
        };
        telemetry::paused(ALL, now.all);
        for c in &self.defs.campaigns {
            telemetry::paused(&c.id, now.campaigns.contains(&c.id));
        }
        if let Ok(mut p) = self.paused.lock() {
            *p = now;
        }
        Ok(())
    }

    pub(super) fn sending_paused(&self) -> bool {
        self.paused.lock().map(|p| p.all).unwrap_or(false)
    }

    pub(super) fn campaign_paused(&self, id: &str) -> bool {
        self.paused.lock().map(|p| p.all || p.campaigns.contains(id)).unwrap_or(false)
    }

    /// Campaigns that may enrol and act: enabled and not paused.
    pub(super) fn acting(&self) -> impl Iterator<Item = &Campaign> {
        self.defs.campaigns.iter().filter(|c| c.enabled && !self.campaign_paused(&c.id))
    }

    /// After a bounce or a complaint: pause the campaign if that rate over
    /// the window passed its limit, once the sample is large enough.
    pub(super) async fn check_rate(&self, rate: Rate, c: &Campaign, now: DateTime<Utc>) -> Result<()> {
        let g = &self.defs.config.guardrails;
        let since = now - g.window;
        let (sent, bounced) = self.store.email_outcomes(&c.id, since).await?;
        let (refused, complaints) = self.store.inbound_counts(&c.id, since).await?;
        let (count, total, max, key, digits) = match rate {
            // Refusals that came back by email count as bounces here: they
            // are as much a sign that this campaign's sending is going wrong.
            Rate::Bounce => (bounced + refused, sent + bounced + refused, g.max_bounce_rate, "max_bounce_rate", 1),
            Rate::Complaint => (complaints, sent + bounced, g.max_complaint_rate, "max_complaint_rate", 2),
        };
        if total < i64::from(g.min_sample) || (count as f64) <= max * total as f64 {
            return Ok(());
        }
        let name = key.trim_start_matches("max_").replace('_', " ");
        let why = format!(
            "{name} {:.digits$} % ({count} of {total} emails) over {} is above guardrails.{key} {:.digits$} %",
            100.0 * count as f64 / total as f64,
            crate::duration::format(g.window),
            100.0 * max
        );
        self.pause(&c.id, &why, "guardrail", now).await?;
        Ok(())
    }

    /// Hold back a campaign's sending (or all of it: scope `all`). False
    /// if it was paused already; the first to store a pause tells ops.
    pub async fn pause(&self, scope: &str, reason: &str, by: &str, now: DateTime<Utc>) -> Result<bool> {
        let pause = Pause { scope: scope.to_string(), reason: reason.to_string(), by: by.to_string(), at: now };
        let new = self.store.pause(&pause).await?;
        if new {
            tracing::error!(scope, reason, by, "Sending paused; `nurture campaigns resume {scope}` lifts it.");
            telemetry::count(Counter::Pauses, Some(scope), 1);
            self.tell_ops(&pause).await;
        }
        self.refresh_pauses().await?;
        Ok(new)
    }

    /// Lift a pause; false if there was none. What was due meanwhile goes
    /// out at the next tick, once.
    pub async fn resume(&self, scope: &str) -> Result<bool> {
        let lifted = self.store.resume(scope).await?;
        if lifted {
            tracing::info!(scope, "Sending resumed.");
        }
        self.refresh_pauses().await?;
        Ok(lifted)
    }

    /// The pauses in force, for `campaigns list`.
    pub async fn pauses(&self) -> Result<Vec<Pause>> {
        Ok(self.store.pauses().await?)
    }

    /// One email to `guardrails.notify`, if set. A pause of all sending may
    /// well mean this email is refused too: the log line above stands.
    async fn tell_ops(&self, p: &Pause) {
        let Some(to) = &self.defs.config.guardrails.notify else { return };
        let what = if p.scope == ALL { "all sending".to_string() } else { format!("campaign {}", p.scope) };
        let message = Outgoing {
            to: to.clone(),
            subject: format!("nurture paused {what}"),
            text: format!(
                "nurture paused {what} at {}.\n\nWhy: {}\n\nSteps due meanwhile wait and go out once when it is \
                 lifted. After fixing the cause, run:\n\n    nurture campaigns resume {}\n",
                crate::template::context::rfc3339(p.at),
                p.reason,
                p.scope
            ),
            html: None,
            unsubscribe_url: None,
            ..Default::default()
        };
        self.turn().await;
        if let (Err(e), _) = self.send(&message).await {
            tracing::warn!(to, error = %e, "Could not email the pause to guardrails.notify.");
        }
    }
}
