//! What a lead did that may make it ready: clicks on tracked links (a
//! person's or a machine's), answers, events and replies (README,
//! *Readiness and hand-off*), and when its readiness is next looked at.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::sql::{Run, Sql};
use super::{Database, Result};
use crate::links::{ClickToken, DECOY};

/// Clicks of one email this close together are one burst: all of its
/// links hit in one is a scanner's, and a decoy hit marks the burst.
pub const BURST: TimeDelta = TimeDelta::seconds(2);

/// A click on a tracked link, as the HTTP side saw it.
#[derive(Debug, Clone)]
pub struct Click {
    pub token: ClickToken,
    pub at: DateTime<Utc>,
    /// A HEAD request: a machine's, always.
    pub head: bool,
}

/// A signal as stored, for scoring and `explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    pub id: i64,
    pub delivery_id: Option<i64>,
    pub kind: String,
    pub name: String,
    pub link: Option<i64>,
    /// Why a click is a machine's (`head`, `scanner`, `burst`, `decoy`);
    /// empty for a person's.
    pub machine: String,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait Signals: Send + Sync {
    /// Record a click and apply the machine rules (README): a HEAD, a
    /// click within `scanner_window` of its email's sending, every link
    /// of the email within [`BURST`], or a decoy hit within [`BURST`]
    /// either side. The lead's readiness is looked at once the burst is
    /// over. `None`: the email is not (or no longer) known (a forgotten
    /// lead's): nothing is stored. Else the lead's id.
    async fn record_click(&self, click: &Click, scanner_window: TimeDelta) -> Result<Option<i64>>;
    /// A lead's signals at or after `since`, oldest first.
    async fn signals(&self, lead_id: i64, since: DateTime<Utc>) -> Result<Vec<Signal>>;
}

#[async_trait]
impl Signals for Database {
    async fn record_click(&self, click: &Click, scanner_window: TimeDelta) -> Result<Option<i64>> {
        let t = &click.token;
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new("SELECT lead_id, created_at FROM deliveries WHERE id = $1").bind(t.delivery_id);
        let Some(row) = tx.fetch_optional(q).await? else { return Ok(None) };
        let lead_id: i64 = row.get("lead_id")?;
        let sent: DateTime<Utc> = row.get("created_at")?;
        let (from, to) = (click.at - BURST, click.at + BURST);
        let decoy_near = Sql::new(
            "SELECT COUNT(*) AS n FROM signals WHERE delivery_id = $1 AND kind = 'click' AND link = $2 AND at >= $3",
        );
        let decoy_near: i64 = tx.fetch_one(decoy_near.bind(t.delivery_id).bind(DECOY).bind(from)).await?.get("n")?;
        let machine = if click.head {
            "head"
        } else if t.link == DECOY || decoy_near > 0 {
            "decoy"
        } else if click.at - sent < scanner_window {
            "scanner"
        } else {
            ""
        };
        let insert = Sql::new(
            "INSERT INTO signals (lead_id, delivery_id, kind, name, link, links, machine, at) \
             VALUES ($1, $2, 'click', $3, $4, $5, $6, $7)",
        );
        let insert = insert.bind(lead_id).bind(t.delivery_id).bind(&t.url).bind(t.link).bind(t.links);
        tx.execute(insert.bind(machine).bind(click.at)).await?;
        let mark = |why: &'static str| {
            Sql::new(
                "UPDATE signals SET machine = $4 WHERE delivery_id = $1 AND kind = 'click' AND machine = '' \
                 AND at >= $2 AND at <= $3",
            )
            .bind(t.delivery_id)
            .bind(from)
            .bind(to)
            .bind(why)
        };
        if t.link == DECOY {
            tx.execute(mark("decoy")).await?;
        } else if machine.is_empty() && t.links >= 2 {
            let hit = Sql::new(
                "SELECT COUNT(DISTINCT link) AS n FROM signals WHERE delivery_id = $1 AND kind = 'click' \
                 AND link >= 0 AND at >= $2",
            );
            let hit: i64 = tx.fetch_one(hit.bind(t.delivery_id).bind(from)).await?.get("n")?;
            if hit >= t.links {
                tx.execute(mark("burst")).await?;
            }
        }
        let check = Sql::new(
            "INSERT INTO readiness_checks (lead_id, check_at) VALUES ($1, $2) \
             ON CONFLICT (lead_id) DO UPDATE SET check_at = excluded.check_at",
        );
        tx.execute(check.bind(lead_id).bind(to)).await?;
        tx.commit().await?;
        Ok(Some(lead_id))
    }

    async fn signals(&self, lead_id: i64, since: DateTime<Utc>) -> Result<Vec<Signal>> {
        let q = Sql::new(
            "SELECT id, delivery_id, kind, name, link, machine, at FROM signals \
             WHERE lead_id = $1 AND at >= $2 ORDER BY at, id",
        );
        let rows = self.conn().await?.fetch_all(q.bind(lead_id).bind(since)).await?;
        rows.iter()
            .map(|r| {
                Ok(Signal {
                    id: r.get("id")?,
                    delivery_id: r.get("delivery_id")?,
                    kind: r.get("kind")?,
                    name: r.get("name")?,
                    link: r.get("link")?,
                    machine: r.get("machine")?,
                    at: r.get("at")?,
                })
            })
            .collect()
    }
}
