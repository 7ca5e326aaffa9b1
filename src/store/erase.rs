//! Erasure on request (`leads forget`, `DELETE /api/leads/{email}`): the
//! lead and everything recorded about it go, in one transaction; what must
//! remain, that the address is never contacted again, stays as a keyed
//! hash in `forgotten`. On SQLite the deleted bytes are zeroed
//! (`secure_delete`, set on every connection) and the WAL emptied, so no
//! readable copy is left in the files either.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{Run, Sql, placeholders};
use super::{Database, Result};

/// Rows removed per table by one erasure.
pub type Erased = BTreeMap<&'static str, u64>;

/// The lead's rows, children first (foreign keys). `$1` is the lead's id.
const ERASE: [(&str, &str); 11] = [
    (
        "webhook_deliveries",
        "DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM webhook_events WHERE lead_id = $1)",
    ),
    ("webhook_events", "DELETE FROM webhook_events WHERE lead_id = $1"),
    (
        "inbound",
        "DELETE FROM inbound WHERE lead_id = $1 OR delivery_id IN (SELECT id FROM deliveries WHERE lead_id = $1)",
    ),
    ("signals", "DELETE FROM signals WHERE lead_id = $1"),
    ("handoffs", "DELETE FROM handoffs WHERE lead_id = $1"),
    ("readiness_checks", "DELETE FROM readiness_checks WHERE lead_id = $1"),
    ("history", "DELETE FROM history WHERE lead_id = $1"),
    ("tasks", "DELETE FROM tasks WHERE lead_id = $1"),
    ("deliveries", "DELETE FROM deliveries WHERE lead_id = $1"),
    ("enrolments", "DELETE FROM enrolments WHERE lead_id = $1"),
    ("leads", "DELETE FROM leads WHERE id = $1"),
];

#[async_trait]
pub trait Erasure: Send + Sync {
    /// Erase the lead with this address (if any) and its suppression, and
    /// keep `hash` so the address stays recognised. Rows removed per table
    /// (empty: no such lead; the hash is kept all the same).
    async fn forget(&self, email: &str, hash: &str, now: DateTime<Utc>) -> Result<Erased>;
    /// Which of these hashes belong to erased addresses.
    async fn forgotten_among(&self, hashes: &[String]) -> Result<Vec<String>>;
    /// Whether any address was ever erased (most databases: never).
    async fn any_forgotten(&self) -> Result<bool>;
    /// Up to `limit` leads (id, email) with an id above `after`, by id.
    async fn leads_after(&self, after: i64, limit: i64) -> Result<Vec<(i64, String)>>;
}

#[async_trait]
impl Erasure for Database {
    async fn forget(&self, email: &str, hash: &str, now: DateTime<Utc>) -> Result<Erased> {
        let email = email.trim().to_lowercase();
        let mut erased = Erased::new();
        {
            let mut c = self.conn().await?;
            let mut tx = c.begin().await?;
            let lead = tx.fetch_optional(Sql::new("SELECT id FROM leads WHERE email = $1").bind(&email)).await?;
            let lead_found = lead.is_some();
            if let Some(row) = lead {
                let id: i64 = row.get("id")?;
                if self.postgres().is_some() {
                    tx.execute(Sql::new("DELETE FROM claims WHERE lead_id = $1").bind(id)).await?;
                }
                for (table, sql) in ERASE {
                    let n = tx.execute(Sql::new(sql).bind(id)).await?;
                    if n > 0 {
                        erased.insert(table, n);
                    }
                }
            }
            let n = tx.execute(Sql::new("DELETE FROM suppressions WHERE email = $1").bind(&email)).await?;
            if n > 0 {
                erased.insert("suppressions", n);
            }
            let keep = Sql::new("INSERT INTO forgotten (hash, at) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING");
            tx.execute(keep.bind(hash).bind(now)).await?;
            // The CRM hears of it by the address's hash alone.
            let data = serde_json::json!({ "address_hash": hash, "found": lead_found });
            super::outbox::record(&mut tx, "lead.forgotten", super::outbox::About::Forgotten(hash.into()), data, now)
                .await?;
            tx.commit().await?;
        }
        if self.postgres().is_none() {
            // The pages before the deletion live on in the WAL until a
            // checkpoint copies the new ones back and TRUNCATE empties it.
            self.conn().await?.execute(Sql::new("PRAGMA wal_checkpoint(TRUNCATE)")).await?;
        }
        Ok(erased)
    }

    async fn forgotten_among(&self, hashes: &[String]) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for chunk in hashes.chunks(500) {
            let sql = format!("SELECT hash FROM forgotten WHERE hash IN ({})", placeholders(1, chunk.len()));
            let q = Sql::dynamic(sql).bind_all(chunk.iter().map(|h| h.into()));
            for row in self.conn().await?.fetch_all(q).await? {
                found.push(row.get("hash")?);
            }
        }
        Ok(found)
    }

    async fn any_forgotten(&self) -> Result<bool> {
        let row = self.conn().await?.fetch_optional(Sql::new("SELECT 1 AS x FROM forgotten LIMIT 1")).await?;
        Ok(row.is_some())
    }

    async fn leads_after(&self, after: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        let q = Sql::new("SELECT id, email FROM leads WHERE id > $1 ORDER BY id LIMIT $2").bind(after).bind(limit);
        let rows = self.conn().await?.fetch_all(q).await?;
        rows.iter().map(|r| Ok((r.get("id")?, r.get("email")?))).collect()
    }
}
