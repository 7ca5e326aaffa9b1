//! Enrolments: one lead going through one campaign, its next step and when
//! that step is due. Finding due work is indexed by `due_at` on active
//! enrolments, never a scan of all leads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::deliveries::Kind;
use super::leads::{LEAD_COLUMNS, lead_from};
use super::sql::{Row, Run, Sql, placeholders};
use super::{Database, Result};
use crate::lead::Lead;

/// An active enrolment and its next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub enrolment_id: i64,
    pub campaign: String,
    pub lead_id: i64,
    pub step_id: String,
    pub due_at: DateTime<Utc>,
    pub enrolled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DueLead {
    pub due: Due,
    pub lead: Lead,
    pub suppressed: bool,
}

/// What follows a finished step.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Step { step_id: String, due_at: DateTime<Utc> },
    Done,
}

#[async_trait]
pub trait Enrolments: Send + Sync {
    /// Start an enrolment; false if the lead is already active in it.
    async fn enrol(
        &self,
        campaign: &str,
        lead_id: i64,
        step_id: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(!self.enrol_many(campaign, step_id, &[(lead_id, due_at)], now).await?.is_empty())
    }
    /// Start enrolments in one statement: (lead id, first step's due time)
    /// each. Returns the leads enrolled; those already active are left out.
    async fn enrol_many(
        &self,
        campaign: &str,
        step_id: &str,
        leads: &[(i64, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>>;
    /// Active enrolments due at `now`, oldest first, each with its lead and
    /// whether the lead's address is suppressed: one query per batch. On
    /// PostgreSQL only the leads this replica could claim (see
    /// `postgres.rs`); they stay claimed until `Timers::release_claims`.
    /// Leads in `exclude` are left out: this process is working on them
    /// (the next batch is fetched while the last leads of one finish).
    async fn due(&self, now: DateTime<Utc>, campaigns: &[String], limit: i64, exclude: &[i64]) -> Result<Vec<DueLead>>;
    async fn next_due_at(&self, campaigns: &[String]) -> Result<Option<DateTime<Utc>>>;
    async fn reschedule(&self, enrolment_id: i64, due_at: DateTime<Utc>) -> Result<()>;
    /// A lead's active enrolments, each with its next step.
    async fn active_enrolments(&self, lead_id: i64) -> Result<Vec<Due>>;
    /// Active enrolments of a campaign per step they wait at (the reload
    /// log and `check --database` say what an edit touches).
    async fn active_by_step(&self, campaign: &str) -> Result<std::collections::BTreeMap<String, i64>>;
    /// A lead's last enrolment in each campaign that ended, for `explain`:
    /// (campaign, ended at, why).
    async fn ended_enrolments(&self, lead_id: i64) -> Result<Vec<(String, DateTime<Utc>, String)>>;
    /// The state, attempts and reason of an enrolment's delivery of a
    /// step, if one was attempted (a retry waits in `retrying`).
    async fn step_delivery(&self, enrolment_id: i64, step_id: &str) -> Result<Option<(String, i64, String)>>;
    /// End an enrolment, recording `cancelled` for the steps not carried out.
    async fn end_enrolment(
        &self,
        due: &Due,
        reason: &str,
        cancelled: &[(String, Kind)],
        now: DateTime<Utc>,
    ) -> Result<()>;
}

/// ` AND column NOT IN ($from, ...)` for `n` values; nothing for none.
pub(super) fn not_in(column: &str, from: usize, n: usize) -> String {
    if n == 0 { String::new() } else { format!(" AND {column} NOT IN ({})", placeholders(from, n)) }
}

/// Due steps with their leads, to be filtered by [`due_condition`].
pub(super) fn due_select() -> String {
    format!(
        "SELECT e.id AS enrolment_id, e.campaign, e.step_id, e.due_at, e.enrolled_at, {LEAD_COLUMNS}, \
         EXISTS (SELECT 1 FROM suppressions s WHERE s.email = l.email) AS suppressed \
         FROM enrolments e JOIN leads l ON l.id = e.lead_id"
    )
}

/// Active enrolments of `n` campaigns (bound from `$from`) due at `$1`.
/// The campaign filter is hidden from the planner (`|| ''`) so it walks
/// the due_at index and stops at LIMIT: O(due), not O(active enrolments
/// of these campaigns).
pub(super) fn due_condition(from: usize, n: usize) -> String {
    format!("e.active AND e.due_at <= $1 AND (e.campaign || '') IN ({})", placeholders(from, n))
}

fn due_lead_from(r: &Row) -> Result<DueLead> {
    let lead = lead_from(r)?;
    Ok(DueLead {
        due: Due {
            enrolment_id: r.get("enrolment_id")?,
            campaign: r.get("campaign")?,
            lead_id: lead.id,
            step_id: r.get::<Option<String>>("step_id")?.unwrap_or_default(),
            due_at: r.get("due_at")?,
            enrolled_at: r.get("enrolled_at")?,
        },
        lead,
        suppressed: r.get("suppressed")?,
    })
}

fn due_from(r: &Row) -> Result<Due> {
    Ok(Due {
        enrolment_id: r.get("id")?,
        campaign: r.get("campaign")?,
        lead_id: r.get("lead_id")?,
        step_id: r.get::<Option<String>>("step_id")?.unwrap_or_default(),
        due_at: r.get::<Option<DateTime<Utc>>>("due_at")?.unwrap_or(DateTime::<Utc>::MIN_UTC),
        enrolled_at: r.get("enrolled_at")?,
    })
}

#[async_trait]
impl Enrolments for Database {
    async fn enrol_many(
        &self,
        campaign: &str,
        step_id: &str,
        leads: &[(i64, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let mut enrolled = Vec::with_capacity(leads.len());
        // 2 values a row, 3 shared: well under both databases' limit on
        // bound values per statement.
        for chunk in leads.chunks(1000) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("($1, ${}, TRUE, $2, $3, ${})", 4 + 2 * i, 5 + 2 * i)).collect();
            let sql = format!(
                "INSERT INTO enrolments (campaign, lead_id, active, enrolled_at, step_id, due_at) \
                 VALUES {} ON CONFLICT DO NOTHING RETURNING lead_id",
                rows.join(", ")
            );
            let mut q = Sql::dynamic(sql).bind(campaign).bind(now).bind(step_id);
            for (lead, due) in chunk {
                q = q.bind(*lead).bind(*due);
            }
            for r in self.conn().await?.fetch_all(q).await? {
                enrolled.push(r.get("lead_id")?);
            }
        }
        Ok(enrolled)
    }

    async fn due(&self, now: DateTime<Utc>, campaigns: &[String], limit: i64, exclude: &[i64]) -> Result<Vec<DueLead>> {
        if campaigns.is_empty() {
            return Ok(Vec::new());
        }
        let q = match self.postgres() {
            Some(pg) => pg.claim_due(now, campaigns, limit, exclude),
            None => {
                let due = due_condition(3, campaigns.len());
                let other = not_in("e.lead_id", 3 + campaigns.len(), exclude.len());
                Sql::dynamic(format!("{} WHERE {due}{other} ORDER BY e.due_at, e.id LIMIT $2", due_select()))
                    .bind(now)
                    .bind(limit)
                    .bind_all(campaigns.iter().map(Into::into))
                    .bind_all(exclude.iter().copied().map(Into::into))
            }
        };
        self.conn().await?.fetch_all(q).await?.iter().map(due_lead_from).collect()
    }

    async fn next_due_at(&self, campaigns: &[String]) -> Result<Option<DateTime<Utc>>> {
        if campaigns.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT due_at FROM enrolments WHERE active AND due_at IS NOT NULL \
             AND (campaign || '') IN ({}) ORDER BY due_at LIMIT 1",
            placeholders(1, campaigns.len())
        );
        let q = Sql::dynamic(sql).bind_all(campaigns.iter().map(Into::into));
        self.conn().await?.fetch_optional(q).await?.map(|r| r.get("due_at")).transpose()
    }

    async fn reschedule(&self, enrolment_id: i64, due_at: DateTime<Utc>) -> Result<()> {
        let q = Sql::new("UPDATE enrolments SET due_at = $2 WHERE id = $1 AND active");
        self.conn().await?.execute(q.bind(enrolment_id).bind(due_at)).await?;
        Ok(())
    }

    async fn active_enrolments(&self, lead_id: i64) -> Result<Vec<Due>> {
        let q = Sql::new(
            "SELECT id, campaign, lead_id, step_id, due_at, enrolled_at FROM enrolments \
             WHERE lead_id = $1 AND active ORDER BY id",
        );
        self.conn().await?.fetch_all(q.bind(lead_id)).await?.iter().map(due_from).collect()
    }

    async fn active_by_step(&self, campaign: &str) -> Result<std::collections::BTreeMap<String, i64>> {
        let q = Sql::new(
            "SELECT step_id, COUNT(*) AS n FROM enrolments WHERE campaign = $1 AND active AND step_id IS NOT NULL \
             GROUP BY step_id",
        );
        let rows = self.conn().await?.fetch_all(q.bind(campaign)).await?;
        rows.iter().map(|r| Ok((r.get("step_id")?, r.get("n")?))).collect()
    }

    async fn ended_enrolments(&self, lead_id: i64) -> Result<Vec<(String, DateTime<Utc>, String)>> {
        let q = Sql::new(
            "SELECT campaign, ended_at, COALESCE(end_reason, '') AS why FROM enrolments \
             WHERE lead_id = $1 AND NOT active AND ended_at IS NOT NULL ORDER BY ended_at",
        );
        let rows = self.conn().await?.fetch_all(q.bind(lead_id)).await?;
        // Later rows win: the last enrolment of each campaign.
        let mut last = std::collections::BTreeMap::new();
        for r in &rows {
            let campaign: String = r.get("campaign")?;
            last.insert(campaign.clone(), (campaign, r.get("ended_at")?, r.get("why")?));
        }
        Ok(last.into_values().collect())
    }

    async fn step_delivery(&self, enrolment_id: i64, step_id: &str) -> Result<Option<(String, i64, String)>> {
        let q = Sql::new("SELECT state, attempts, reason FROM deliveries WHERE enrolment_id = $1 AND step_id = $2");
        let row = self.conn().await?.fetch_optional(q.bind(enrolment_id).bind(step_id)).await?;
        row.map(|r| {
            let attempts: i32 = r.get("attempts")?;
            Ok((r.get("state")?, attempts.into(), r.get("reason")?))
        })
        .transpose()
    }

    async fn end_enrolment(
        &self,
        due: &Due,
        reason: &str,
        cancelled: &[(String, Kind)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let end = Sql::new(
            "UPDATE enrolments SET active = FALSE, ended_at = $2, end_reason = $3, step_id = NULL, \
             due_at = NULL WHERE id = $1 AND active",
        );
        if tx.execute(end.bind(due.enrolment_id).bind(now).bind(reason)).await? == 1 {
            for (step, kind) in cancelled {
                let q = Sql::new(
                    "INSERT INTO deliveries (enrolment_id, lead_id, campaign, step_id, kind, state, reason, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'cancelled', $6, $7, $7) \
                     ON CONFLICT (enrolment_id, step_id) DO NOTHING",
                );
                let q = q.bind(due.enrolment_id).bind(due.lead_id).bind(&due.campaign).bind(step);
                tx.execute(q.bind(kind.as_str()).bind(reason).bind(now)).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
