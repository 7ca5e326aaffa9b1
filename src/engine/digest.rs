//! Daily digests: each rep's open tasks, at `[reminders] digest` in the
//! rep's zone. Timers are per zone, so a tick costs no query unless a
//! digest is due somewhere.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::events::Kind as Ev;
use super::task::digest_line;
use super::{Engine, Event, Result};
use crate::mail::Outgoing;
use crate::template::context;

/// Tasks a digest lists, those due first; it says how many more are open.
/// A person reads a few dozen; fifty thousand would be megabytes of mail
/// and of memory, and a query per line.
pub const DIGEST_TASKS: i64 = 100;

impl Engine {
    pub(super) fn digest_zones(&self) -> Vec<Tz> {
        let config = &self.defs.config;
        let mut zones: Vec<Tz> = config.reps.iter().filter_map(|r| r.timezone).collect();
        zones.push(config.timezone);
        zones.sort_by_key(|z| z.name());
        zones.dedup();
        zones
    }

    pub(super) fn rep_zone(&self, email: &str) -> Tz {
        let config = &self.defs.config;
        config.reps.iter().find(|r| r.email == email).and_then(|r| r.timezone).unwrap_or(config.timezone)
    }

    pub(super) async fn digests(&self, now: DateTime<Utc>) -> Result<()> {
        // Digests wait for a mail server known down: their timers stay, so
        // they go out at the first tick it answers.
        if !self.mailer.available().await || self.sending_paused() {
            return Ok(());
        }
        let digest = &self.defs.config.digest;
        let mut firing = Vec::new();
        for zone in self.digest_zones() {
            let timer = format!("digest:{}", zone.name());
            if self.fired(&timer, digest.last_at_or_before(now, zone), now).await?.is_some() {
                firing.push(zone);
                self.set_timer(&timer, now, "").await?;
            }
        }
        if firing.is_empty() {
            return Ok(());
        }
        // One rep's first tasks in memory at a time, however many are open.
        for email in self.store.reps_with_open_tasks().await? {
            if !firing.contains(&self.rep_zone(&email)) {
                continue;
            }
            let (tasks, open) = self.store.first_open_tasks(&email, DIGEST_TASKS).await?;
            let rep = self.defs.config.rep(&email);
            let zone = self.rep_zone(&email);
            let mut lines = Vec::with_capacity(tasks.len());
            for t in &tasks {
                lines.push(digest_line(t, self.links.task_done_url(t.id), self.latest(t.lead_id).await?, zone));
            }
            let data = context::digest(&rep, &lines, open, now);
            let base = Event::new(now, Ev::Digest).to(&email).count(usize::try_from(open).unwrap_or(0));
            let Ok((subject, text, html)) = self.defs.templates.render_rep_email("reminders/digest", &data) else {
                self.emit(Event { event: Ev::Skipped, ..base }.reason("digest template failed to render"));
                continue;
            };
            let message = Outgoing {
                to: email.clone(),
                subject,
                text,
                html: Some(html),
                unsubscribe_url: None,
                ..Default::default()
            };
            self.turn().await;
            let (result, elapsed) = self.send(&message).await;
            let base = base.elapsed(elapsed);
            match result {
                Ok(()) => self.emit(base),
                Err(e) => self.emit(Event { event: Ev::Skipped, ..base }.reason(&format!("digest not sent: {e}"))),
            }
        }
        Ok(())
    }

    /// The lead's latest message to us, for the digest: what it was, when,
    /// and for a reply its first line.
    async fn latest(&self, lead_id: i64) -> Result<String> {
        let handled = self.store.inbound_history(lead_id, 1).await?;
        let Some(h) = handled.first() else { return Ok(String::new()) };
        let touch = crate::store::Touch::from(h);
        let mut line = format!("{} {}", h.at.format("%Y-%m-%d"), touch.state);
        if h.kind == "reply"
            && let Some(first) = h.detail.lines().map(str::trim).find(|l| !l.is_empty())
        {
            let first: String = first.chars().take(80).collect();
            line += &format!(": \"{first}\"");
        }
        Ok(line)
    }
}
