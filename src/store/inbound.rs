//! Inbound mail as stored: one row per message handled (its mark, so a
//! message is applied once across crashes, restarts and replicas), the
//! delivery a message names, late bounces, soft-bounce counts, a lead's
//! out-of-office pause, and the mailbox's read position.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{Run, Sql};
use super::{Database, Result};

/// Where a message stands in its handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// First seen now: apply it.
    New,
    /// Seen before but cut off while applied (a crash): apply it again;
    /// every effect is idempotent.
    Unfinished,
    /// Applied before: leave it.
    Done,
}

/// A delivery a message named, as the matcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub delivery_id: i64,
    pub lead_id: i64,
    pub campaign: String,
    pub step_id: String,
    pub state: String,
    pub subject: String,
}

/// What was made of a message, stored as its history entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub key: String,
    pub kind: String,
    pub detail: String,
    pub severity: String,
    pub lead_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub campaign: Option<String>,
    pub step_id: Option<String>,
    pub until: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait Inbox: Send + Sync {
    /// Mark a message as being applied (or find it was).
    async fn begin_inbound(&self, key: &str, now: DateTime<Utc>) -> Result<Mark>;
    /// Store what the message was and did; its mark becomes done.
    async fn finish_inbound(&self, h: &Handled) -> Result<()>;
    /// An email delivery by id.
    async fn sent_delivery(&self, delivery_id: i64) -> Result<Option<Sent>>;
    /// The lead's latest email delivery that went out (sent, uncertain or bounced).
    async fn last_delivery(&self, lead_id: i64) -> Result<Option<Sent>>;
    /// A delivery accepted by the server and bounced later: `bounced`
    /// (a delivery in another state keeps it). False if unchanged.
    async fn bounce_delivery(&self, delivery_id: i64, reason: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Soft bounces recorded for the lead since `since`.
    async fn soft_bounces(&self, lead_id: i64, since: DateTime<Utc>) -> Result<i64>;
    /// Refusals of our mail and complaints by email for a campaign since
    /// `since` (guardrails).
    async fn inbound_counts(&self, campaign: &str, since: DateTime<Utc>) -> Result<(i64, i64)>;
    /// Hold the lead's steps until `until`: active enrolments due earlier
    /// move to it, and steps falling due meanwhile wait for it too.
    async fn pause_lead(&self, lead_id: i64, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<()>;
    /// End a lead's out-of-office pause; false if there was none.
    async fn resume_lead(&self, lead_id: i64) -> Result<bool>;
    /// The lead's handled messages that say something about it (not
    /// `unmatched`: delivery reports, receipts), newest first.
    async fn inbound_history(&self, lead_id: i64, limit: i64) -> Result<Vec<Handled>>;
}

const SENT_COLUMNS: &str = "id, lead_id, campaign, step_id, state, subject";

fn sent_from(r: &super::sql::Row) -> Result<Sent> {
    Ok(Sent {
        delivery_id: r.get("id")?,
        lead_id: r.get("lead_id")?,
        campaign: r.get("campaign")?,
        step_id: r.get("step_id")?,
        state: r.get("state")?,
        subject: r.get("subject")?,
    })
}

#[async_trait]
impl Inbox for Database {
    async fn begin_inbound(&self, key: &str, now: DateTime<Utc>) -> Result<Mark> {
        let mut c = self.conn().await?;
        let insert = Sql::new(
            "INSERT INTO inbound (message_key, kind, state, received_at) VALUES ($1, '', 'applying', $2) \
             ON CONFLICT (message_key) DO NOTHING",
        );
        if c.execute(insert.bind(key).bind(now)).await? == 1 {
            return Ok(Mark::New);
        }
        let state: String =
            c.fetch_one(Sql::new("SELECT state FROM inbound WHERE message_key = $1").bind(key)).await?.get("state")?;
        Ok(if state == "done" { Mark::Done } else { Mark::Unfinished })
    }

    async fn finish_inbound(&self, h: &Handled) -> Result<()> {
        let q = Sql::new(
            "UPDATE inbound SET kind = $2, detail = $3, severity = $4, lead_id = $5, delivery_id = $6, \
             campaign = $7, step_id = $8, until = $9, state = 'done', received_at = $10 WHERE message_key = $1",
        );
        let q = q.bind(&h.key).bind(&h.kind).bind(&h.detail).bind(&h.severity).bind(h.lead_id).bind(h.delivery_id);
        self.conn().await?.execute(q.bind(h.campaign.clone()).bind(h.step_id.clone()).bind(h.until).bind(h.at)).await?;
        Ok(())
    }

    async fn sent_delivery(&self, delivery_id: i64) -> Result<Option<Sent>> {
        let q = Sql::dynamic(format!("SELECT {SENT_COLUMNS} FROM deliveries WHERE id = $1 AND kind = 'email'"));
        self.conn().await?.fetch_optional(q.bind(delivery_id)).await?.as_ref().map(sent_from).transpose()
    }

    async fn last_delivery(&self, lead_id: i64) -> Result<Option<Sent>> {
        let q = Sql::dynamic(format!(
            "SELECT {SENT_COLUMNS} FROM deliveries WHERE lead_id = $1 AND kind = 'email' \
             AND state IN ('sent', 'uncertain', 'bounced') ORDER BY updated_at DESC, id DESC LIMIT 1"
        ));
        self.conn().await?.fetch_optional(q.bind(lead_id)).await?.as_ref().map(sent_from).transpose()
    }

    async fn bounce_delivery(&self, delivery_id: i64, reason: &str, now: DateTime<Utc>) -> Result<bool> {
        let q = Sql::new(
            "UPDATE deliveries SET state = 'bounced', reason = $2, updated_at = $3 \
             WHERE id = $1 AND state IN ('sent', 'uncertain')",
        );
        Ok(self.conn().await?.execute(q.bind(delivery_id).bind(reason).bind(now)).await? == 1)
    }

    async fn soft_bounces(&self, lead_id: i64, since: DateTime<Utc>) -> Result<i64> {
        let q = Sql::new(
            "SELECT COUNT(*) AS n FROM inbound WHERE lead_id = $1 AND kind = 'bounce' AND severity = 'soft' \
             AND state = 'done' AND received_at >= $2",
        );
        self.conn().await?.fetch_one(q.bind(lead_id).bind(since)).await?.get("n")
    }

    async fn inbound_counts(&self, campaign: &str, since: DateTime<Utc>) -> Result<(i64, i64)> {
        let q = Sql::new(
            "SELECT COALESCE(SUM(CASE WHEN kind = 'bounce' AND severity = 'refused' THEN 1 ELSE 0 END), 0) AS refused, \
             COALESCE(SUM(CASE WHEN kind = 'complaint' THEN 1 ELSE 0 END), 0) AS complaints \
             FROM inbound WHERE campaign = $1 AND state = 'done' AND received_at >= $2",
        );
        let r = self.conn().await?.fetch_one(q.bind(campaign).bind(since)).await?;
        Ok((r.get("refused")?, r.get("complaints")?))
    }

    async fn pause_lead(&self, lead_id: i64, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        tx.execute(Sql::new("UPDATE leads SET paused_until = $2 WHERE id = $1").bind(lead_id).bind(until)).await?;
        let moved = Sql::new("UPDATE enrolments SET due_at = $2 WHERE lead_id = $1 AND active AND due_at < $2");
        tx.execute(moved.bind(lead_id).bind(until)).await?;
        let data = serde_json::json!({ "until": crate::template::context::rfc3339(until), "why": "out of office" });
        super::outbox::record(&mut tx, "lead.paused", super::outbox::About::Lead(lead_id), data, now).await?;
        tx.commit().await
    }

    async fn resume_lead(&self, lead_id: i64) -> Result<bool> {
        let q = Sql::new("UPDATE leads SET paused_until = NULL WHERE id = $1 AND paused_until IS NOT NULL");
        Ok(self.conn().await?.execute(q.bind(lead_id)).await? == 1)
    }

    async fn inbound_history(&self, lead_id: i64, limit: i64) -> Result<Vec<Handled>> {
        let q = Sql::new(
            "SELECT message_key, kind, detail, severity, lead_id, delivery_id, campaign, step_id, until, received_at \
             FROM inbound WHERE lead_id = $1 AND state = 'done' AND kind <> 'unmatched' \
             ORDER BY received_at DESC, id DESC LIMIT $2",
        );
        let rows = self.conn().await?.fetch_all(q.bind(lead_id).bind(limit)).await?;
        rows.iter()
            .map(|r| {
                Ok(Handled {
                    key: r.get("message_key")?,
                    kind: r.get("kind")?,
                    detail: r.get("detail")?,
                    severity: r.get("severity")?,
                    lead_id: r.get("lead_id")?,
                    delivery_id: r.get("delivery_id")?,
                    campaign: r.get("campaign")?,
                    step_id: r.get("step_id")?,
                    until: r.get("until")?,
                    at: r.get("received_at")?,
                })
            })
            .collect()
    }
}
