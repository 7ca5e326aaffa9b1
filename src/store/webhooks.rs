//! The webhook outbox as the sender reads it: each webhook's deliveries
//! made from the events after its cursor, the head of each stream (a lead,
//! a campaign) taken when due, by one replica (its `next_at` moved forward
//! as a lease), and its outcome recorded; `webhooks list` and `replay`.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::sql::{Arg, Run, Sql, placeholders};
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

/// A webhook as the fan-out reads it: its name and the event types it wants.
pub type Route<'a> = (&'a str, &'a [String]);

/// Events fanned out per pass, and ids bound per statement.
const FAN: i64 = 5000;
const CHUNK: usize = 5000;

/// `sql` with `{ids}` replaced by a placeholder per id, bound after `lead`
/// (at most [`CHUNK`] ids: both databases' limits on bound values).
fn with_ids(sql: &str, lead: Vec<Arg>, ids: &[i64]) -> Sql {
    let list = placeholders(lead.len() + 1, ids.len());
    Sql::dynamic(sql.replace("{ids}", &list)).bind_all(lead).bind_all(ids.iter().map(|&i| i.into()))
}

/// `sql` (see [`with_ids`]) run over `ids` in chunks: rows affected.
async fn per_ids(run: &mut impl Run, sql: &str, lead: Vec<Arg>, ids: &[i64]) -> Result<u64> {
    let mut n = 0;
    for ids in ids.chunks(CHUNK) {
        n += run.execute(with_ids(sql, lead.clone(), ids)).await?;
    }
    Ok(n)
}

#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Make each webhook's deliveries, due at once, from the events not
    /// yet fanned out (in whatever order their transactions committed: no
    /// event is passed over), of the types it wants, and mark those events
    /// fanned out; how many deliveries. A webhook seen the first time
    /// starts after the newest event.
    async fn fan_out(&self, routes: &[Route<'_>], now: DateTime<Utc>) -> Result<u64>;
    /// Up to `limit` deliveries of `webhook` due by `now`, each the
    /// earliest pending one of its stream, taken until `until` (see [`lease`]).
    async fn take_due(&self, webhook: &str, now: DateTime<Utc>, until: DateTime<Utc>, limit: i64)
    -> Result<Vec<Taken>>;
    async fn delivered(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()>;
    /// Deliveries taken and not sent (the round ran out of its lease): due
    /// again at `now`.
    async fn release(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()>;
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
    /// Delete the events that happened before `before`, fanned out and
    /// delivered to every webhook that wanted them (none pending, none
    /// dead), with their deliveries; how many events.
    async fn forget_delivered(&self, before: DateTime<Utc>) -> Result<u64>;
}

#[async_trait]
impl Webhooks for Database {
    async fn fan_out(&self, routes: &[Route<'_>], now: DateTime<Utc>) -> Result<u64> {
        let mut c = self.conn().await?;
        // Through the partial index on the events not fanned out: nothing
        // to read when the outbox is quiet.
        let q = Sql::new("SELECT id, type FROM webhook_events WHERE NOT fanned ORDER BY id LIMIT $1").bind(FAN);
        let rows = c.fetch_all(q).await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            events.push((r.get::<i64>("id")?, r.get::<String>("type")?));
        }
        let mut starts = std::collections::HashMap::new();
        for r in c.fetch_all(Sql::new("SELECT webhook, last_event_id FROM webhook_cursors")).await? {
            starts.insert(r.get::<String>("webhook")?, r.get::<i64>("last_event_id")?);
        }
        if events.is_empty() && routes.iter().all(|(name, _)| starts.contains_key(*name)) {
            return Ok(0);
        }
        let mut tx = c.begin().await?;
        for (name, _) in routes.iter().filter(|(name, _)| !starts.contains_key(*name)) {
            let start = Sql::new(
                "INSERT INTO webhook_cursors (webhook, last_event_id) \
                 SELECT $1, COALESCE(MAX(id), 0) FROM webhook_events WHERE true ON CONFLICT (webhook) DO NOTHING",
            );
            tx.execute(start.bind(*name)).await?;
        }
        let mut made = 0;
        for (name, types) in routes {
            let Some(&start) = starts.get(*name) else { continue };
            let wanted: Vec<i64> =
                events.iter().filter(|(id, kind)| *id > start && types.contains(kind)).map(|(id, _)| *id).collect();
            let make = "INSERT INTO webhook_deliveries (webhook, event_id, stream, state, next_at) \
                        SELECT $1, id, stream, 'pending', $2 FROM webhook_events WHERE id IN ({ids}) \
                        ON CONFLICT (webhook, event_id) DO NOTHING";
            made += per_ids(&mut tx, make, vec![(*name).into(), now.into()], &wanted).await?;
        }
        let ids: Vec<i64> = events.iter().map(|(id, _)| *id).collect();
        per_ids(&mut tx, "UPDATE webhook_events SET fanned = true WHERE id IN ({ids})", vec![], &ids).await?;
        tx.commit().await?;
        if made >= (FAN / 5) as u64 && c.postgres() {
            // A burst of new pending rows before autovacuum has seen them:
            // without statistics PostgreSQL plans the walk in `take_due`
            // as a scan per row (1 s per batch instead of 1 ms).
            if let Err(e) = c.execute(Sql::new("ANALYZE webhook_deliveries")).await {
                tracing::debug!(error = %e, "ANALYZE webhook_deliveries not run");
            }
        }
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
            // The pending deliveries in event order (index `due`), each
            // kept if due and no earlier one of its stream is pending (a
            // probe of index `pending`): the cost follows the rows taken,
            // not the backlog (a GROUP BY of every stream's head took 9 ms
            // per batch at 20,000 pending on PostgreSQL; this takes 1).
            "SELECT d.id, d.attempts, e.uid, e.type, e.body, e.at FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.webhook = $1 AND d.state = 'pending' AND d.next_at <= $2 AND NOT EXISTS \
               (SELECT 1 FROM webhook_deliveries p WHERE p.webhook = d.webhook AND p.stream = d.stream \
                AND p.state = 'pending' AND p.event_id < d.event_id) \
             ORDER BY d.event_id LIMIT $3",
        );
        let mut c = self.conn().await?;
        let rows = c.fetch_all(q.bind(webhook).bind(now).bind(limit)).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut due = Vec::with_capacity(rows.len());
        for r in &rows {
            due.push(Taken {
                id: r.get("id")?,
                uid: r.get("uid")?,
                kind: r.get("type")?,
                body: r.get("body")?,
                attempts: r.get("attempts")?,
                event_at: r.get("at")?,
            });
        }
        // Taken by whoever moves their time first, in one statement: the
        // other replicas find them not due.
        let ids: Vec<i64> = due.iter().map(|t| t.id).collect();
        let take = "UPDATE webhook_deliveries SET next_at = $1 WHERE state = 'pending' AND next_at <= $2 \
                    AND id IN ({ids}) RETURNING id";
        let won = c.fetch_all(with_ids(take, vec![until.into(), now.into()], &ids)).await?;
        let won: std::collections::HashSet<i64> = won.iter().map(|r| r.get("id")).collect::<Result<_>>()?;
        due.retain(|t| won.contains(&t.id));
        Ok(due)
    }

    async fn delivered(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $1, attempts = attempts + 1, \
                   last_error = '' WHERE id IN ({ids})";
        per_ids(&mut self.conn().await?, sql, vec![now.into()], ids).await?;
        Ok(())
    }

    async fn release(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE webhook_deliveries SET next_at = $1 WHERE state = 'pending' AND id IN ({ids})";
        per_ids(&mut self.conn().await?, sql, vec![now.into()], ids).await?;
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

    async fn forget_delivered(&self, before: DateTime<Utc>) -> Result<u64> {
        // Batches in short transactions, so the sender never waits long.
        let done = "SELECT e.id FROM webhook_events e WHERE e.fanned AND e.at < $1 AND NOT EXISTS \
                    (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state <> 'delivered') LIMIT $2";
        let mut forgotten = 0;
        loop {
            let mut c = self.conn().await?;
            let mut tx = c.begin().await?;
            let ids: Vec<i64> = tx
                .fetch_all(Sql::new(done).bind(before).bind(CHUNK as i64))
                .await?
                .iter()
                .map(|r| r.get("id"))
                .collect::<Result<_>>()?;
            per_ids(&mut tx, "DELETE FROM webhook_deliveries WHERE event_id IN ({ids})", vec![], &ids).await?;
            forgotten += per_ids(&mut tx, "DELETE FROM webhook_events WHERE id IN ({ids})", vec![], &ids).await?;
            tx.commit().await?;
            if ids.len() < CHUNK {
                return Ok(forgotten);
            }
        }
    }
}
