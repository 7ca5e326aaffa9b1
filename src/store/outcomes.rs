//! What each campaign step led to, read from the ledger for `nurture
//! report`: deliveries by state, inbound mail by kind, and the events
//! (unsubscribes, replies recorded by hand, goal statuses) credited to the
//! last email sent to the lead before them. Grouped by the database, so a
//! million leads come back as a few hundred rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{Run, Sql, placeholders};
use super::{Database, Result};

/// Deliveries of one step in one state.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCount {
    pub campaign: String,
    pub step: String,
    pub kind: String,
    /// A delivery state, or an inbound kind (`reply`, `auto_reply`,
    /// `complaint`, ...).
    pub what: String,
    pub n: i64,
}

/// An event credited to the last email sent to its lead before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Credited {
    /// `unsubscribed`, `replied` (by hand or by mail), or `status` (a goal
    /// status entered).
    pub kind: String,
    pub at: DateTime<Utc>,
    pub campaign: String,
    pub step: String,
    /// When that email went out.
    pub sent_at: DateTime<Utc>,
}

/// One task, for the reps' figures.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskTimes {
    pub rep: String,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Outcomes: Send + Sync {
    /// Enrolments per campaign since `since`.
    async fn enrolled(&self, since: DateTime<Utc>) -> Result<Vec<(String, i64)>>;
    /// Deliveries created since `since`, per campaign, step, kind and state.
    async fn delivery_counts(&self, since: DateTime<Utc>) -> Result<Vec<StepCount>>;
    /// Inbound mail handled since `since`, per campaign, step and kind.
    async fn inbound_by_step(&self, since: DateTime<Utc>) -> Result<Vec<StepCount>>;
    /// Unsubscribes, replies and entries into a `goal` status since
    /// `since`, each with the last email sent to its lead before it.
    async fn credited(&self, since: DateTime<Utc>, goal: &[String]) -> Result<Vec<Credited>>;
    /// Tasks created since `since`.
    async fn task_times(&self, since: DateTime<Utc>) -> Result<Vec<TaskTimes>>;
    /// Clicks (`click`: a person's, `machine`), answers and hand-offs since
    /// `since`, per campaign and step of the email they came from.
    async fn readiness_by_step(&self, since: DateTime<Utc>) -> Result<Vec<StepCount>>;
    /// Hand-offs made since `since`, with their tasks' times
    /// (`created_at` is the hand-off).
    async fn handoff_times(&self, since: DateTime<Utc>) -> Result<Vec<TaskTimes>>;
    /// Marketing emails sent per day (UTC) since `since` (the console's chart).
    async fn sends_per_day(&self, since: DateTime<Utc>) -> Result<Vec<(chrono::NaiveDate, i64)>>;
}

/// The last email sent to the lead of `h` at or before `h.at`.
const LAST_SENT: &str = "(SELECT d.id FROM deliveries d WHERE d.lead_id = h.lead_id AND d.kind = 'email' \
     AND d.state IN ('sent', 'bounced', 'uncertain') AND d.updated_at <= h.at \
     ORDER BY d.updated_at DESC, d.id DESC LIMIT 1)";

fn counts(rows: Vec<super::sql::Row>, kind: Option<&str>) -> Result<Vec<StepCount>> {
    rows.iter()
        .map(|r| {
            Ok(StepCount {
                campaign: r.get("campaign")?,
                step: r.get("step_id")?,
                kind: match kind {
                    Some(k) => k.to_string(),
                    None => r.get("kind")?,
                },
                what: r.get("what")?,
                n: r.get("n")?,
            })
        })
        .collect()
}

fn task_times_from(rows: Vec<super::sql::Row>) -> Result<Vec<TaskTimes>> {
    rows.iter()
        .map(|r| {
            Ok(TaskTimes {
                rep: r.get("rep")?,
                created_at: r.get("created_at")?,
                due_at: r.get("due_at")?,
                done_at: r.get("done_at")?,
            })
        })
        .collect()
}

#[async_trait]
impl Outcomes for Database {
    async fn enrolled(&self, since: DateTime<Utc>) -> Result<Vec<(String, i64)>> {
        let q = Sql::new("SELECT campaign, COUNT(*) AS n FROM enrolments WHERE enrolled_at >= $1 GROUP BY campaign");
        let rows = self.conn().await?.fetch_all(q.bind(since)).await?;
        rows.iter().map(|r| Ok((r.get("campaign")?, r.get("n")?))).collect()
    }

    async fn delivery_counts(&self, since: DateTime<Utc>) -> Result<Vec<StepCount>> {
        let q = Sql::new(
            "SELECT campaign, step_id, kind, state AS what, COUNT(*) AS n FROM deliveries \
             WHERE created_at >= $1 GROUP BY campaign, step_id, kind, state",
        );
        counts(self.conn().await?.fetch_all(q.bind(since)).await?, None)
    }

    async fn inbound_by_step(&self, since: DateTime<Utc>) -> Result<Vec<StepCount>> {
        let q = Sql::new(
            "SELECT campaign, step_id, kind AS what, COUNT(*) AS n FROM inbound \
             WHERE state = 'done' AND received_at >= $1 AND campaign IS NOT NULL AND step_id IS NOT NULL \
             GROUP BY campaign, step_id, kind",
        );
        counts(self.conn().await?.fetch_all(q.bind(since)).await?, Some("email"))
    }

    async fn credited(&self, since: DateTime<Utc>, goal: &[String]) -> Result<Vec<Credited>> {
        let goal_in = if goal.is_empty() { "NULL".to_string() } else { placeholders(2, goal.len()) };
        let wanted = format!(
            "h.at >= $1 AND (h.kind IN ('unsubscribed', 'replied') OR (h.kind = 'status' AND h.status IN ({goal_in})))"
        );
        // The last email looked up once per event, by the lead's index:
        // PostgreSQL with LATERAL (a join on a subquery's id makes it scan
        // every delivery: 0.4 s instead of 0.07 s at a million), SQLite
        // (no LATERAL; its planner does the lookup well) by id.
        let events = Sql::dynamic(match self.postgres() {
            Some(_) => format!(
                "SELECT h.kind, h.at, d.campaign, d.step_id, d.updated_at AS sent_at FROM history h \
                 CROSS JOIN LATERAL (SELECT d.campaign, d.step_id, d.updated_at FROM deliveries d \
                 WHERE d.lead_id = h.lead_id AND d.kind = 'email' AND d.state IN ('sent', 'bounced', 'uncertain') \
                 AND d.updated_at <= h.at ORDER BY d.updated_at DESC, d.id DESC LIMIT 1) d WHERE {wanted}"
            ),
            None => format!(
                "WITH e AS (SELECT h.kind, h.at, {LAST_SENT} AS delivery_id FROM history h WHERE {wanted}) \
                 SELECT e.kind, e.at, d.campaign, d.step_id, d.updated_at AS sent_at FROM e \
                 JOIN deliveries d ON d.id = e.delivery_id"
            ),
        })
        .bind(since)
        .bind_all(goal.iter().map(|g| g.clone().into()));
        // Replies by mail carry their delivery already.
        let replies = Sql::new(
            "SELECT 'replied' AS kind, i.received_at AS at, d.campaign, d.step_id, d.updated_at AS sent_at \
             FROM inbound i JOIN deliveries d ON d.id = i.delivery_id \
             WHERE i.kind = 'reply' AND i.state = 'done' AND i.received_at >= $1",
        )
        .bind(since);
        let mut c = self.conn().await?;
        let mut rows = c.fetch_all(events).await?;
        rows.extend(c.fetch_all(replies).await?);
        rows.iter()
            .map(|r| {
                Ok(Credited {
                    kind: r.get("kind")?,
                    at: r.get("at")?,
                    campaign: r.get("campaign")?,
                    step: r.get("step_id")?,
                    sent_at: r.get("sent_at")?,
                })
            })
            .collect()
    }

    async fn task_times(&self, since: DateTime<Utc>) -> Result<Vec<TaskTimes>> {
        let q = Sql::new("SELECT rep, created_at, due_at, done_at FROM tasks WHERE created_at >= $1");
        task_times_from(self.conn().await?.fetch_all(q.bind(since)).await?)
    }

    async fn readiness_by_step(&self, since: DateTime<Utc>) -> Result<Vec<StepCount>> {
        let q = Sql::new(
            "SELECT d.campaign, d.step_id, \
             CASE WHEN s.kind = 'click' AND s.machine = '' THEN 'click' WHEN s.kind = 'click' THEN 'machine' \
             ELSE s.kind END AS what, COUNT(*) AS n \
             FROM signals s JOIN deliveries d ON d.id = s.delivery_id \
             WHERE s.at >= $1 AND s.kind IN ('click', 'answer') GROUP BY d.campaign, d.step_id, what \
             UNION ALL SELECT campaign, step_id, 'handoff' AS what, COUNT(*) AS n FROM handoffs \
             WHERE at >= $1 AND campaign IS NOT NULL AND step_id IS NOT NULL GROUP BY campaign, step_id",
        );
        counts(self.conn().await?.fetch_all(q.bind(since)).await?, Some("email"))
    }

    async fn handoff_times(&self, since: DateTime<Utc>) -> Result<Vec<TaskTimes>> {
        let q = Sql::new(
            "SELECT h.rep, h.at AS created_at, t.due_at, t.done_at FROM handoffs h JOIN tasks t ON t.id = h.task_id \
             WHERE h.at >= $1",
        );
        task_times_from(self.conn().await?.fetch_all(q.bind(since)).await?)
    }

    async fn sends_per_day(&self, since: DateTime<Utc>) -> Result<Vec<(chrono::NaiveDate, i64)>> {
        // Times are RFC 3339 text in SQLite (the date is its first ten
        // characters) and TIMESTAMPTZ in PostgreSQL.
        let day = match self.postgres() {
            Some(_) => "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            None => "substr(updated_at, 1, 10)",
        };
        let q = Sql::dynamic(format!(
            "SELECT {day} AS day, COUNT(*) AS n FROM deliveries \
             WHERE kind = 'email' AND state = 'sent' AND updated_at >= $1 GROUP BY {day}"
        ));
        let rows = self.conn().await?.fetch_all(q.bind(since)).await?;
        rows.iter()
            .filter_map(|r| {
                let day: String = r.get("day").ok()?;
                let n: i64 = r.get("n").ok()?;
                Some(Ok((chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok()?, n)))
            })
            .collect()
    }
}
