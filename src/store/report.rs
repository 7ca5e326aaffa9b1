//! What the daemon has to do and what it has done, counted by the
//! database: `nurture status`, and the backlog gauges of `/metrics`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::deliveries::State;
use super::sql::{Run, Sql};
use super::{Database, Result};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusReport {
    pub active_enrolments: i64,
    pub due_now: i64,
    pub open_tasks: i64,
    pub next_due_at: Option<DateTime<Utc>>,
    /// Deliveries per final state, updated in the last 24 hours.
    pub last_24h: BTreeMap<String, i64>,
    /// Deliveries per final state, all time.
    pub total: BTreeMap<String, i64>,
}

#[async_trait]
pub trait Reports: Send + Sync {
    async fn status(&self, now: DateTime<Utc>) -> Result<StatusReport>;
}

impl Database {
    async fn count(&self, sql: &'static str, now: DateTime<Utc>) -> Result<i64> {
        self.conn().await?.fetch_one(Sql::new(sql).bind(now)).await?.get("n")
    }

    /// Deliveries per final state updated since `since` (every final state
    /// listed, 0 when none).
    async fn by_state(&self, since: DateTime<Utc>) -> Result<BTreeMap<String, i64>> {
        let q = Sql::new("SELECT state, COUNT(*) AS n FROM deliveries WHERE updated_at >= $1 GROUP BY state");
        let rows = self.conn().await?.fetch_all(q.bind(since)).await?;
        let mut out: BTreeMap<String, i64> = State::FINAL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
        for r in rows {
            out.insert(r.get("state")?, r.get("n")?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Reports for Database {
    async fn status(&self, now: DateTime<Utc>) -> Result<StatusReport> {
        // `$1 = $1`: every count binds `now`, used or not.
        let next = Sql::new("SELECT MIN(due_at) AS t FROM enrolments WHERE active AND $1 = $1").bind(now);
        let next = self.conn().await?.fetch_one(next).await?;
        Ok(StatusReport {
            active_enrolments: self.count("SELECT COUNT(*) AS n FROM enrolments WHERE active AND $1 = $1", now).await?,
            due_now: self.count("SELECT COUNT(*) AS n FROM enrolments WHERE active AND due_at <= $1", now).await?,
            open_tasks: self.count("SELECT COUNT(*) AS n FROM tasks WHERE done_at IS NULL AND $1 = $1", now).await?,
            next_due_at: next.get::<Option<DateTime<Utc>>>("t").ok().flatten(),
            last_24h: self.by_state(now - chrono::TimeDelta::hours(24)).await?,
            total: self.by_state(DateTime::<Utc>::UNIX_EPOCH).await?,
        })
    }
}
