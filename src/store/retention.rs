//! Retention (`[housekeeping] retention`): what was written for a person
//! and is older than the retention period loses its text (the rendered
//! subject and the reasons of deliveries, the text of tasks done, the
//! details of history entries and inbound mail); the rows and their states,
//! times and steps stay, so `report` and the caps count as before.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{Run, Sql};
use super::{Database, Result};

/// Rows emptied per table.
pub type Expired = BTreeMap<&'static str, u64>;

/// Rows per statement: short write transactions, so a running daemon's
/// sends never wait long behind a large first expiry.
const BATCH: i64 = 5000;

/// Each table's emptying, `$1` the cut-off, `$2` the batch size. Rows
/// already empty are not selected again, so the loop ends.
const EXPIRE: [(&str, &str); 6] = [
    (
        "deliveries",
        "UPDATE deliveries SET subject = '', reason = '' WHERE id IN (SELECT id FROM deliveries \
         WHERE updated_at < $1 AND state NOT IN ('sending', 'retrying') AND (subject <> '' OR reason <> '') LIMIT $2)",
    ),
    (
        "tasks",
        "UPDATE tasks SET text = '' WHERE id IN (SELECT id FROM tasks \
         WHERE done_at IS NOT NULL AND created_at < $1 AND text <> '' LIMIT $2)",
    ),
    (
        "signals",
        "UPDATE signals SET name = '' WHERE id IN (SELECT id FROM signals WHERE at < $1 AND name <> '' LIMIT $2)",
    ),
    (
        "handoffs",
        "UPDATE handoffs SET why = '' WHERE id IN (SELECT id FROM handoffs WHERE at < $1 AND why <> '' LIMIT $2)",
    ),
    (
        "history",
        "UPDATE history SET detail = '' WHERE id IN (SELECT id FROM history WHERE at < $1 AND detail <> '' LIMIT $2)",
    ),
    (
        "inbound",
        "UPDATE inbound SET detail = '' WHERE id IN (SELECT id FROM inbound \
         WHERE received_at < $1 AND state = 'done' AND detail <> '' LIMIT $2)",
    ),
];

#[async_trait]
pub trait Retention: Send + Sync {
    /// Empty the text of what is older than `before`; rows emptied per table.
    async fn expire(&self, before: DateTime<Utc>) -> Result<Expired>;
}

#[async_trait]
impl Retention for Database {
    async fn expire(&self, before: DateTime<Utc>) -> Result<Expired> {
        let mut out = Expired::new();
        for (table, sql) in EXPIRE {
            loop {
                let n = self.conn().await?.execute(Sql::new(sql).bind(before).bind(BATCH)).await?;
                if n > 0 {
                    *out.entry(table).or_default() += n;
                }
                if n < BATCH as u64 {
                    break;
                }
            }
        }
        Ok(out)
    }
}
