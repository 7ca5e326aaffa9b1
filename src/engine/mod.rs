//! The engine: which leads enter which campaign, when each step is due, and
//! what happens when it is. Time is always an argument: `run` passes the
//! wall clock, `simulate` and tests a virtual one, so the same code decides
//! in both.
//!
//! One [`Engine::tick`] at `now` runs, in order: enrolment sweeps whose
//! cron fired since the last one, every step due at or before `now`, and
//! rep digests whose cron fired.

mod digest;
pub mod events;
mod step;
mod sweep;
mod task;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::definitions::Definitions;
use crate::links::Links;
use crate::mail::Mailer;
use crate::store::{Store, StoreError};
pub use events::{Event, Sink};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Due steps fetched per round trip.
const BATCH: i64 = 500;

pub struct Engine {
    pub defs: Arc<Definitions>,
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub links: Links,
    pub sink: Arc<dyn Sink>,
}

impl Engine {
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<()> {
        self.sweeps(now).await?;
        self.run_due(now).await?;
        self.digests(now).await?;
        Ok(())
    }

    /// Ids of campaigns that may act: disabled ones hold their enrolments.
    fn enabled(&self) -> Vec<String> {
        self.defs.campaigns.iter().filter(|c| c.enabled).map(|c| c.id.clone()).collect()
    }

    /// The next instant after `now` at which a tick has something to do.
    pub async fn next_wakeup(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let mut next =
            self.store.next_due_at(&self.enabled()).await?.map(|t| t.max(now + chrono::TimeDelta::seconds(1)));
        let mut consider = |t: Option<DateTime<Utc>>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for c in self.defs.campaigns.iter().filter(|c| c.enabled) {
            consider(c.enrol.cron.next_after(now, c.enrol.timezone));
        }
        for zone in self.digest_zones() {
            consider(self.defs.config.digest.next_after(now, zone));
        }
        Ok(next)
    }

    async fn run_due(&self, now: DateTime<Utc>) -> Result<()> {
        let campaigns = self.enabled();
        // Each step either advances, is pushed past `now`, or ends its
        // enrolment, so this drains; the bound guards against a bug
        // turning into a hot loop.
        for _ in 0..10_000 {
            let due = self.store.due(now, &campaigns, BATCH).await?;
            if due.is_empty() {
                break;
            }
            for d in due {
                self.run_step(d, now).await?;
            }
        }
        Ok(())
    }

    fn emit(&self, e: Event) {
        self.sink.emit(e);
    }
}
