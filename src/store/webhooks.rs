//! The webhook outbox as the sender reads it: each webhook's deliveries
//! made from the events after its cursor, the head of each stream (a lead,
//! a campaign) taken when due, by one replica (its `next_at` moved forward
//! as a lease), and its outcome recorded; `webhooks list` and `replay`.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::sql::{Run, Sql};
use super::{Database, Result};

/// A delivery taken for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    pub id: i64,
    pub uid: String,
    pub kind: String,
    pub body: String,
    pub attempts: i64,
    pub event_at: DateTime<Utc>,
}

/// One webhook's figures (`webhooks list`, `status`, `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HookStats {
    pub delivered: i64,
    pub pending: i64,
    pub dead: i64,
    /// When the oldest event still pending happened.
    pub oldest_pending: Option<DateTime<Utc>>,
    pub last_error: String,
    /// When and why it was disabled (a 410 Gone).
    pub disabled: Option<(DateTime<Utc>, String)>,
}

/// How long a replica holds a delivery it took: twice the request's limit
/// and 5 s; past it, a crashed replica's delivery is taken again.
pub fn lease(timeout: TimeDelta) -> TimeDelta {
    timeout * 2 + TimeDelta::seconds(5)
}

#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Make `webhook`'s deliveries from the events after its cursor, of
    /// the `types` it wants, due at once; how many. A webhook seen the
    /// first time starts after the newest event.
    async fn fan_out(&self, webhook: &str, types: &[String], now: DateTime<Utc>) -> Result<u64>;
    /// Up to `limit` deliveries of `webhook` due by `now`, each the
    /// earliest pending one of its stream, taken until `until` (see [`lease`]).
    async fn take_due(&self, webhook: &str, now: DateTime<Utc>, until: DateTime<Utc>, limit: i64)
    -> Result<Vec<Taken>>;
    async fn delivered(&self, id: i64, now: DateTime<Utc>) -> Result<()>;
    /// A failed attempt: tried again at `next` (`None`: dead).
    async fn failed(&self, id: i64, error: &str, next: Option<DateTime<Utc>>) -> Result<()>;
    /// The receiver answers again: `webhook`'s deliveries waiting past
    /// `beyond` (retries backed off longer than a lease; a taken one waits
    /// no longer than its lease) are due at `now`. How many.
    async fn receiver_back(&self, webhook: &str, now: DateTime<Utc>, beyond: DateTime<Utc>) -> Result<u64>;
    async fn disable_webhook(&self, webhook: &str, why: &str, now: DateTime<Utc>) -> Result<()>;
    /// Whether a 410 disabled `webhook` (until a replay).
    async fn webhook_disabled(&self, webhook: &str) -> Result<bool>;
    async fn hook_stats(&self, webhook: &str) -> Result<HookStats>;
    /// Dead deliveries sent again (`uid`: that event's, else all of
    /// `webhook`'s); a disabled webhook is enabled again. How many.
    async fn replay(&self, webhook: Option<&str>, uid: Option<&str>, now: DateTime<Utc>) -> Result<u64>;
}

#[async_trait]
impl Webhooks for Database {
    async fn fan_out(&self, webhook: &str, types: &[String], now: DateTime<Utc>) -> Result<u64> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new("SELECT last_event_id FROM webhook_cursors WHERE webhook = $1").bind(webhook);
        let Some(row) = tx.fetch_optional(q).await? else {
            let start = Sql::new(
                "INSERT INTO webhook_cursors (webhook, last_event_id) \
                 SELECT $1, COALESCE(MAX(id), 0) FROM webhook_events WHERE true ON CONFLICT (webhook) DO NOTHING",
            );
            tx.execute(start.bind(webhook)).await?;
            tx.commit().await?;
            return Ok(0);
        };
        let cursor: i64 = row.get("last_event_id")?;
        let q = Sql::new("SELECT id, type, stream FROM webhook_events WHERE id > $1 ORDER BY id LIMIT 1000");
        let rows = tx.fetch_all(q.bind(cursor)).await?;
        let mut made = 0;
        let mut last = cursor;
        for r in &rows {
            let (id, kind, stream): (i64, String, String) = (r.get("id")?, r.get("type")?, r.get("stream")?);
            last = last.max(id);
            if !types.contains(&kind) {
                continue;
            }
            let q = Sql::new(
                "INSERT INTO webhook_deliveries (webhook, event_id, stream, state, next_at) \
                 VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT (webhook, event_id) DO NOTHING",
            );
            made += tx.execute(q.bind(webhook).bind(id).bind(stream).bind(now)).await?;
        }
        if last > cursor {
            let q = Sql::new("UPDATE webhook_cursors SET last_event_id = $2 WHERE webhook = $1 AND last_event_id < $2");
            tx.execute(q.bind(webhook).bind(last)).await?;
        }
        tx.commit().await?;
        Ok(made)
    }

    async fn take_due(
        &self,
        webhook: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Taken>> {
        let q = Sql::new(
            // Each stream's head (its earliest pending event) in one pass
            // over the pending deliveries, then those due.
            "SELECT d.id, d.next_at, d.attempts, e.uid, e.type, e.body, e.at FROM webhook_deliveries d \
             JOIN (SELECT stream, MIN(event_id) AS head FROM webhook_deliveries \
                   WHERE webhook = $1 AND state = 'pending' GROUP BY stream) h \
               ON h.stream = d.stream AND h.head = d.event_id \
             JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.webhook = $1 AND d.next_at <= $2 ORDER BY d.event_id LIMIT $3",
        );
        let mut c = self.conn().await?;
        let rows = c.fetch_all(q.bind(webhook).bind(now).bind(limit)).await?;
        let mut taken = Vec::new();
        for r in &rows {
            let id: i64 = r.get("id")?;
            let was: DateTime<Utc> = r.get("next_at")?;
            // Taken by whoever moves its time first: the other replicas
            // find it not due.
            let take = Sql::new(
                "UPDATE webhook_deliveries SET next_at = $3 WHERE id = $1 AND next_at = $2 AND state = 'pending'",
            );
            if c.execute(take.bind(id).bind(was).bind(until)).await? == 1 {
                taken.push(Taken {
                    id,
                    uid: r.get("uid")?,
                    kind: r.get("type")?,
                    body: r.get("body")?,
                    attempts: r.get("attempts")?,
                    event_at: r.get("at")?,
                });
            }
        }
        Ok(taken)
    }

    async fn delivered(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        let q = Sql::new(
            "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $2, attempts = attempts + 1, \
             last_error = '' WHERE id = $1",
        );
        self.conn().await?.execute(q.bind(id).bind(now)).await?;
        Ok(())
    }

    async fn failed(&self, id: i64, error: &str, next: Option<DateTime<Utc>>) -> Result<()> {
        let q = match next {
            Some(at) => Sql::new(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $2, next_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(at),
            None => Sql::new(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $2, state = 'dead' WHERE id = $1",
            )
            .bind(id)
            .bind(error),
        };
        self.conn().await?.execute(q).await?;
        Ok(())
    }

    async fn receiver_back(&self, webhook: &str, now: DateTime<Utc>, beyond: DateTime<Utc>) -> Result<u64> {
        let q = Sql::new(
            "UPDATE webhook_deliveries SET next_at = $2 WHERE webhook = $1 AND state = 'pending' AND next_at > $3",
        );
        self.conn().await?.execute(q.bind(webhook).bind(now).bind(beyond)).await
    }

    async fn disable_webhook(&self, webhook: &str, why: &str, now: DateTime<Utc>) -> Result<()> {
        let q = Sql::new("UPDATE webhook_cursors SET disabled_at = $2, disabled_why = $3 WHERE webhook = $1");
        self.conn().await?.execute(q.bind(webhook).bind(now).bind(why)).await?;
        Ok(())
    }

    async fn webhook_disabled(&self, webhook: &str) -> Result<bool> {
        let q = Sql::new("SELECT 1 AS one FROM webhook_cursors WHERE webhook = $1 AND disabled_at IS NOT NULL");
        Ok(self.conn().await?.fetch_optional(q.bind(webhook)).await?.is_some())
    }

    async fn hook_stats(&self, webhook: &str) -> Result<HookStats> {
        let mut c = self.conn().await?;
        let q = Sql::new(
            "SELECT COALESCE(SUM(CASE WHEN d.state = 'delivered' THEN 1 ELSE 0 END), 0) AS delivered, \
             COALESCE(SUM(CASE WHEN d.state = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
             COALESCE(SUM(CASE WHEN d.state = 'dead' THEN 1 ELSE 0 END), 0) AS dead, \
             MIN(CASE WHEN d.state = 'pending' THEN e.at END) AS oldest \
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.webhook = $1",
        );
        let r = c.fetch_one(q.bind(webhook)).await?;
        let mut s = HookStats {
            delivered: r.get("delivered")?,
            pending: r.get("pending")?,
            dead: r.get("dead")?,
            oldest_pending: r.get("oldest")?,
            ..HookStats::default()
        };
        let q = Sql::new(
            "SELECT last_error FROM webhook_deliveries WHERE webhook = $1 AND last_error <> '' ORDER BY id DESC LIMIT 1",
        );
        if let Some(r) = c.fetch_optional(q.bind(webhook)).await? {
            s.last_error = r.get("last_error")?;
        }
        let q = Sql::new("SELECT disabled_at, disabled_why FROM webhook_cursors WHERE webhook = $1").bind(webhook);
        if let Some(r) = c.fetch_optional(q).await?
            && let Some(at) = r.get::<Option<DateTime<Utc>>>("disabled_at")?
        {
            s.disabled = Some((at, r.get("disabled_why")?));
        }
        Ok(s)
    }

    async fn replay(&self, webhook: Option<&str>, uid: Option<&str>, now: DateTime<Utc>) -> Result<u64> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new(
            "UPDATE webhook_deliveries SET state = 'pending', next_at = $1, last_error = '' \
             WHERE state = 'dead' AND ($2 IS NULL OR webhook = $2) \
             AND ($3 IS NULL OR event_id IN (SELECT id FROM webhook_events WHERE uid = $3))",
        );
        let n = tx.execute(q.bind(now).bind(webhook).bind(uid)).await?;
        let q = Sql::new(
            "UPDATE webhook_cursors SET disabled_at = NULL, disabled_why = '' WHERE $1 IS NULL OR webhook = $1",
        );
        tx.execute(q.bind(webhook)).await?;
        tx.commit().await?;
        Ok(n)
    }
}
