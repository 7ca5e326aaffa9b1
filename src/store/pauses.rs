//! Pauses: sending held back, for one campaign or for all (scope `all`),
//! by a guardrail or by hand, until `nurture campaigns resume`. Replicas
//! share them: an attempt is refused by the statement that would record it
//! (`deliveries.rs`), so nothing is attempted once a pause is stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use serde_json::json;

use super::outbox::{self, About};
use super::sql::{Run, Sql};
use super::{Database, Result};

/// The scope of a pause of all sending.
pub const ALL: &str = "all";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pause {
    /// [`ALL`] or a campaign id.
    pub scope: String,
    pub reason: String,
    /// `guardrail` or `hand`.
    pub by: String,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait Pauses: Send + Sync {
    /// Store a pause; false if that scope was paused already (the first
    /// reason stands, and whoever stored it tells ops).
    async fn pause(&self, p: &Pause) -> Result<bool>;
    /// Lift a pause; false if there was none.
    async fn resume(&self, scope: &str) -> Result<bool>;
    async fn pauses(&self) -> Result<Vec<Pause>>;
}

#[async_trait]
impl Pauses for Database {
    async fn pause(&self, p: &Pause) -> Result<bool> {
        let q = Sql::new(
            "INSERT INTO pauses (scope, reason, by_whom, paused_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope) DO NOTHING",
        );
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let added = tx.execute(q.bind(&p.scope).bind(&p.reason).bind(&p.by).bind(p.at)).await? == 1;
        if added {
            let data = json!({ "campaign": p.scope, "reason": p.reason, "by": p.by });
            outbox::record(&mut tx, "campaign.paused", About::Campaign(p.scope.clone()), data, p.at).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn resume(&self, scope: &str) -> Result<bool> {
        let q = Sql::new("DELETE FROM pauses WHERE scope = $1").bind(scope);
        Ok(self.conn().await?.execute(q).await? > 0)
    }

    async fn pauses(&self) -> Result<Vec<Pause>> {
        let q = Sql::new("SELECT scope, reason, by_whom, paused_at FROM pauses ORDER BY scope");
        let rows = self.conn().await?.fetch_all(q).await?;
        rows.iter()
            .map(|r| {
                Ok(Pause {
                    scope: r.get("scope")?,
                    reason: r.get("reason")?,
                    by: r.get("by_whom")?,
                    at: r.get("paused_at")?,
                })
            })
            .collect()
    }
}
