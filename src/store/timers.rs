//! Timers (the last run of each sweep and digest), counters, and the
//! claims that let one replica among several run a timer's fire or a
//! lead's steps. Claims exist on PostgreSQL only (`postgres.rs`); SQLite
//! serves one daemon per file, which has nothing to claim.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{Run, Sql};
use super::{Database, Result};

#[async_trait]
pub trait Timers: Send + Sync {
    /// (last time, note) of a named timer.
    async fn timer(&self, name: &str) -> Result<Option<(DateTime<Utc>, String)>>;
    /// Set a timer's last time and note; ends this replica's claim on it.
    async fn set_timer(&self, name: &str, at: DateTime<Utc>, note: &str) -> Result<()>;
    /// Create a timer at `at` with `note` unless it exists (whoever made it
    /// first, and whatever it holds since, wins).
    async fn create_timer(&self, name: &str, at: DateTime<Utc>, note: &str) -> Result<()>;
    /// Increment and return a named counter (round-robin assignment).
    async fn next_counter(&self, name: &str) -> Result<i64>;
    /// The right to run a timer's fire whose last run was at `last`: false
    /// if another replica runs it now or already ran it. The claim ends
    /// with [`Timers::set_timer`] (or its lease).
    async fn claim_timer(&self, name: &str, last: DateTime<Utc>) -> Result<bool>;
    /// Extend this replica's claims on leads and timers by a lease.
    async fn renew_claims(&self) -> Result<()>;
    /// Give up this replica's claims on leads (its work is done).
    async fn release_claims(&self) -> Result<()> {
        self.release_claims_except(&[]).await
    }
    /// Give up this replica's claims on leads but those in `keep`: the
    /// batch before is done, the leads in `keep` are still in hand.
    async fn release_claims_except(&self, keep: &[i64]) -> Result<()>;

    /// (last time, note) of a timer, created at the epoch with an empty
    /// note the first time it is asked for (so it can be claimed). Never
    /// overwrites: two replicas asking at once for a new timer must not
    /// reset a fire the first has already claimed or run.
    async fn timer_or_start(&self, name: &str) -> Result<(DateTime<Utc>, String)> {
        if let Some(t) = self.timer(name).await? {
            return Ok(t);
        }
        self.create_timer(name, DateTime::UNIX_EPOCH, "").await?;
        Ok(self.timer(name).await?.unwrap_or((DateTime::UNIX_EPOCH, String::new())))
    }
}

/// The time to record a claimed fire under: `now`, but strictly after
/// `last`, so a replica holding an older view (same second) can never
/// claim what this one just did.
pub fn after(last: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    now.max(last + chrono::TimeDelta::seconds(1))
}

#[async_trait]
impl Timers for Database {
    async fn timer(&self, name: &str) -> Result<Option<(DateTime<Utc>, String)>> {
        let q = Sql::new("SELECT last_at, note FROM timers WHERE name = $1").bind(name);
        let row = self.conn().await?.fetch_optional(q).await?;
        row.map(|r| Ok((r.get("last_at")?, r.get("note")?))).transpose()
    }

    async fn set_timer(&self, name: &str, at: DateTime<Utc>, note: &str) -> Result<()> {
        let q = Sql::new(
            "INSERT INTO timers (name, last_at, note) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET last_at = excluded.last_at, note = excluded.note, \
             claimed_by = NULL, claimed_until = NULL",
        );
        self.conn().await?.execute(q.bind(name).bind(at).bind(note)).await?;
        Ok(())
    }

    async fn create_timer(&self, name: &str, at: DateTime<Utc>, note: &str) -> Result<()> {
        let q = Sql::new("INSERT INTO timers (name, last_at, note) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING");
        self.conn().await?.execute(q.bind(name).bind(at).bind(note)).await?;
        Ok(())
    }

    async fn next_counter(&self, name: &str) -> Result<i64> {
        let q = Sql::new(
            "INSERT INTO counters (name, value) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        );
        self.conn().await?.fetch_one(q.bind(name)).await?.get("value")
    }

    async fn claim_timer(&self, name: &str, last: DateTime<Utc>) -> Result<bool> {
        match self.postgres() {
            Some(pg) => pg.claim_timer(name, last).await,
            None => Ok(true),
        }
    }

    async fn renew_claims(&self) -> Result<()> {
        match self.postgres() {
            Some(pg) => pg.renew_claims().await,
            None => Ok(()),
        }
    }

    async fn release_claims_except(&self, keep: &[i64]) -> Result<()> {
        match self.postgres() {
            Some(pg) => pg.release_claims_except(keep).await,
            None => Ok(()),
        }
    }
}
