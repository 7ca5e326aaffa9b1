//! Enrolment: cron-timed sweeps over each campaign's audience, and the
//! immediate check when a lead is created or changed.

use chrono::{DateTime, Utc};

use super::events::Kind as Ev;
use super::{Engine, Event, Result};
use crate::campaign::Campaign;
use crate::store::{AudienceQuery, Since};

/// Leads read per page while sweeping: memory stays flat however many match.
const PAGE: i64 = 1000;

/// Lead ids per statement when the database enrols directly: bounded
/// statements, so a sweep of millions never holds one long transaction.
const SQL_RANGE: i64 = 100_000;

impl Engine {
    /// Run each enabled campaign's sweep if its cron fired since the last
    /// one. Several missed fires (daemon down) make one sweep; a campaign
    /// never swept before (new database, new file) starts counting now.
    ///
    /// A sweep looks only at leads that may have started to match since
    /// the last one (see [`Since`]); the first sweep of a campaign, and the
    /// first after its audience changed, looks at all of them.
    pub(super) async fn sweeps(&self, now: DateTime<Utc>) -> Result<()> {
        let mut noticed = false;
        for c in self.acting() {
            let timer = format!("sweep:{}", c.id);
            let last_fire = c.enrol.cron.last_at_or_before(now, c.enrol.timezone);
            let Some((from, note)) = self.fired(&timer, last_fire, now).await? else { continue };
            if !noticed {
                noticed = true;
                self.guard_new_leads(now).await?;
                self.notice_crm_writes(now).await?;
            }
            let print = fingerprint(c);
            let since = (note == print).then_some(Since {
                from,
                until: now,
                min_age: c.audience.min_age,
                again_after: c.enrol.again_after,
            });
            let started = std::time::Instant::now();
            let enrolled = self.sweep(c, now, None, since.clone()).await?;
            if self.is_stopping() {
                // Cut short: the timer stays, so the next tick sweeps again
                // from the same point (enrolling twice is impossible).
                return Ok(());
            }
            self.sink.swept(&c.id, since.is_none(), enrolled, started.elapsed());
            self.set_timer(&timer, now, &print).await?;
        }
        Ok(())
    }

    /// Record the status changes a CRM wrote straight into `leads` since
    /// the last look (the history's `crm` entries), once per sweeping
    /// tick and by one replica at a time.
    async fn notice_crm_writes(&self, now: DateTime<Utc>) -> Result<()> {
        const TIMER: &str = "history:crm";
        let (last, _) = self.store.timer_or_start(TIMER).await?;
        if !self.store.claim_timer(TIMER, last).await? {
            return Ok(());
        }
        let n = self.store.record_crm_changes(now).await?;
        if n > 0 {
            tracing::info!(leads = n, "Status changes written by the CRM recorded in the history.");
        }
        self.store.set_timer(TIMER, crate::store::timers::after(last, now), "").await?;
        Ok(())
    }

    /// Enrol every lead of the audience (or just `only`, or only those
    /// changed `since`) that may enter.
    pub(super) async fn sweep(
        &self,
        c: &Campaign,
        now: DateTime<Utc>,
        only: Option<i64>,
        since: Option<Since>,
    ) -> Result<usize> {
        let a = &c.audience;
        let q = AudienceQuery {
            campaign: c.id.clone(),
            statuses: a.statuses.clone(),
            lost_reasons: a.lost_reasons.clone(),
            changed_before: a.min_age.map(|m| now - m),
            changed_after: a.max_age.map(|m| now - m),
            left_before: c.enrol.again_after.map(|g| now - g),
            only_lead: only,
            since,
        };
        let Some(first) = c.steps.first() else { return Ok(0) };
        // When SQL can judge the audience alone and the first step is due
        // at the same instant for every lead, and no one wants an event per
        // lead (the daemon logs a count), the database enrols directly.
        let same_due = c.window.zone_is_fixed() || c.window.window.is_always();
        if only.is_none() && a.attributes.is_empty() && same_due && !self.sink.wants_each_enrolment() {
            let tz = c.window.zone_for_any(self.defs.config.timezone);
            let due = c.window.window.next_open(now + first.after, tz).unwrap_or(now + first.after);
            let top = self.store.max_lead_id().await?;
            let mut enrolled = 0;
            let mut from = 0;
            while from < top && !self.is_stopping() {
                let to = from + SQL_RANGE;
                enrolled += self.store.enrol_matching(&q, (from, to), &first.id, due, now).await? as usize;
                self.moved();
                from = to;
            }
            crate::telemetry::count(crate::telemetry::Counter::Enrolments, Some(&c.id), enrolled as u64);
            return Ok(enrolled);
        }
        let mut after = 0;
        let mut enrolled = 0;
        loop {
            let page = self.store.audience_page(&q, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let entering: Vec<(i64, DateTime<Utc>)> = page
                .iter()
                .filter(|l| a.matches(l, now))
                .map(|lead| {
                    let tz = c.window.zone_for(lead, self.defs.config.timezone);
                    let due = now + first.after;
                    (lead.id, c.window.window.next_open(due, tz).unwrap_or(due))
                })
                .collect();
            if !entering.is_empty() {
                let ids = self.store.enrol_many(&c.id, &first.id, &entering, now).await?;
                enrolled += ids.len();
                let ids: std::collections::HashSet<i64> = ids.into_iter().collect();
                for lead in page.iter().filter(|l| ids.contains(&l.id)) {
                    self.emit(Event::new(now, Ev::Enrolled).campaign(&c.id).for_lead(lead));
                }
            }
            self.moved();
            if (page.len() as i64) < PAGE || self.is_stopping() {
                break;
            }
        }
        Ok(enrolled)
    }
}

/// What a sweep's result depends on besides time and leads: when it
/// changes (a reload), the next sweep looks at every lead again.
fn fingerprint(c: &Campaign) -> String {
    use sha2::{Digest, Sha256};
    let text = format!("{:?}|{:?}|{:?}", c.audience, c.enrol.again_after, c.steps.first().map(|s| &s.id));
    crate::hex::encode(&Sha256::digest(text.as_bytes())[..8])
}
