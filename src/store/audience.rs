//! Audience sweeps: the leads a campaign's audience selects, read in pages
//! by id, or enrolled by the database directly when SQL can judge them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::leads::{LEAD_COLUMNS, lead_from};
use super::sql::{Arg, Run, Sql, placeholders};
use super::{Database, Result};
use crate::lead::Lead;

/// The SQL-side part of an audience; attributes are filtered in Rust.
#[derive(Debug, Clone)]
pub struct AudienceQuery {
    pub campaign: String,
    pub statuses: Vec<String>,
    pub lost_reasons: Vec<String>,
    /// status_changed_at must be at or before this (min_age).
    pub changed_before: Option<DateTime<Utc>>,
    /// status_changed_at must be at or after this (max_age).
    pub changed_after: Option<DateTime<Utc>>,
    /// Leads that left the campaign after this may not re-enter; `None`:
    /// any earlier enrolment keeps them out.
    pub left_before: Option<DateTime<Utc>>,
    /// Only this lead (enrolment right after a lead changes).
    pub only_lead: Option<i64>,
    /// Only leads that may have started to match since the last sweep.
    pub since: Option<Since>,
}

/// An incremental sweep at `until` after one at `from`: a lead can only
/// have started to match if it changed (`updated_at`), aged past `min_age`,
/// or its last enrolment aged past `again_after` in between.
#[derive(Debug, Clone)]
pub struct Since {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub min_age: Option<chrono::TimeDelta>,
    pub again_after: Option<chrono::TimeDelta>,
}

#[async_trait]
pub trait Audiences: Send + Sync {
    /// Leads matching `q` with id > `after_id`, not suppressed and not
    /// barred by an earlier enrolment, in id order.
    async fn audience_page(&self, q: &AudienceQuery, after_id: i64, limit: i64) -> Result<Vec<Lead>>;
    /// Enrol, in one statement, the leads with `from < id <= to` that
    /// `audience_page` would return, all with the same first due time;
    /// returns how many. For audiences SQL can judge on its own (no
    /// attribute filter) and windows that do not depend on the lead.
    async fn enrol_matching(
        &self,
        q: &AudienceQuery,
        ids: (i64, i64),
        step_id: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64>;
    /// The highest lead id (0 without leads).
    async fn max_lead_id(&self) -> Result<i64>;
}

/// The conditions on `leads l` of an audience query, and their values:
/// `$1` is the id leads must be above, `$2` the campaign, `$3` is `third`
/// (a page size or an upper id).
fn audience_where(q: &AudienceQuery, after_id: i64, third: Arg) -> (String, Vec<Arg>) {
    let mut args = vec![Arg::from(after_id), Arg::from(&q.campaign), third];
    // `(x || '') IN` hides the column from the planner: paging must walk
    // the primary key; an index on status would make every page re-read
    // and re-sort all matching leads.
    let mut sql = format!("l.id > $1 AND (l.status || '') IN ({})", placeholders(args.len() + 1, q.statuses.len()));
    args.extend(q.statuses.iter().map(Arg::from));
    if !q.lost_reasons.is_empty() {
        sql += &format!(" AND l.lost_reason IN ({})", placeholders(args.len() + 1, q.lost_reasons.len()));
        args.extend(q.lost_reasons.iter().map(Arg::from));
    }
    if let Some(id) = q.only_lead {
        args.push(id.into());
        sql += &format!(" AND l.id = ${}", args.len());
    }
    if let Some(t) = q.changed_before {
        args.push(t.into());
        sql += &format!(" AND l.status_changed_at <= ${}", args.len());
    }
    if let Some(t) = q.changed_after {
        args.push(t.into());
        sql += &format!(" AND l.status_changed_at >= ${}", args.len());
    }
    if let Some(since) = &q.since {
        args.push(since.from.into());
        let mut parts = vec![format!("SELECT id FROM leads WHERE updated_at > ${}", args.len())];
        if let Some(min) = since.min_age {
            // Status first, so the (status, status_changed_at) index serves it.
            let first = args.len() + 1;
            args.push((since.from - min).into());
            args.push((since.until - min).into());
            parts.push(format!(
                "SELECT id FROM leads WHERE status IN ({}) AND status_changed_at > ${first} \
                 AND status_changed_at <= ${}",
                placeholders(4, q.statuses.len()),
                first + 1
            ));
        }
        if let Some(gap) = since.again_after {
            let first = args.len() + 1;
            args.push((since.from - gap).into());
            args.push((since.until - gap).into());
            parts.push(format!(
                "SELECT lead_id FROM enrolments WHERE campaign = $2 AND NOT active \
                 AND ended_at > ${first} AND ended_at <= ${}",
                first + 1
            ));
        }
        sql += &format!(" AND l.id IN ({})", parts.join(" UNION "));
    }
    let barred = match q.left_before {
        Some(t) => {
            args.push(t.into());
            format!("(e.active OR e.ended_at > ${})", args.len())
        }
        None => "TRUE".to_string(),
    };
    sql += &format!(
        " AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = l.email) \
         AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.lead_id = l.id AND e.campaign = $2 \
         AND {barred})"
    );
    (sql, args)
}

#[async_trait]
impl Audiences for Database {
    async fn audience_page(&self, q: &AudienceQuery, after_id: i64, limit: i64) -> Result<Vec<Lead>> {
        if q.statuses.is_empty() {
            return Ok(Vec::new());
        }
        let (conditions, args) = audience_where(q, after_id, limit.into());
        let sql = format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE {conditions} ORDER BY l.id LIMIT $3");
        let rows = self.conn().await?.fetch_all(Sql::dynamic(sql).bind_all(args)).await?;
        rows.iter().map(lead_from).collect()
    }

    async fn enrol_matching(
        &self,
        q: &AudienceQuery,
        ids: (i64, i64),
        step_id: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        if q.statuses.is_empty() {
            return Ok(0);
        }
        let (conditions, mut args) = audience_where(q, ids.0, ids.1.into());
        let n = args.len();
        args.extend([now.into(), step_id.into(), due_at.into()]);
        let sql = format!(
            "INSERT INTO enrolments (campaign, lead_id, active, enrolled_at, step_id, due_at) \
             SELECT $2, l.id, TRUE, ${}, ${}, ${} FROM leads l WHERE {conditions} AND l.id <= $3 \
             ON CONFLICT DO NOTHING",
            n + 1,
            n + 2,
            n + 3
        );
        self.conn().await?.execute(Sql::dynamic(sql).bind_all(args)).await
    }

    async fn max_lead_id(&self) -> Result<i64> {
        let row = self.conn().await?.fetch_one(Sql::new("SELECT COALESCE(MAX(id), 0) AS m FROM leads")).await?;
        row.get("m")
    }
}
