//! Copying the engine's state from one store into another, page by page:
//! `forecast` runs the engine on a scratch copy of the live database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::leads::{LEAD_COLUMNS, lead_from};
use super::sql::{Row, Run, Sql};
use super::tasks::{TASK_SELECT, TaskRow, task_from};
use super::{Database, Result, Store};
use crate::lead::Lead;

const PAGE: i64 = 2000;

/// Tables `copy_page` reads; timers, counters and suppressions are small and
/// come whole in the first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Leads,
    Enrolments,
    /// Only deliveries updated at or after the given time (the caps' look-back).
    Deliveries(DateTime<Utc>),
    OpenTasks,
    Small,
}

/// One copied row; the engine's state, not a user-facing type.
#[derive(Debug, Clone, PartialEq)]
pub enum Copied {
    Lead(Lead),
    Enrolment {
        id: i64,
        campaign: String,
        lead_id: i64,
        active: bool,
        enrolled_at: DateTime<Utc>,
        step_id: Option<String>,
        due_at: Option<DateTime<Utc>>,
        last_step_id: Option<String>,
        ended_at: Option<DateTime<Utc>>,
        end_reason: Option<String>,
    },
    Delivery {
        id: i64,
        enrolment_id: i64,
        lead_id: i64,
        campaign: String,
        step_id: String,
        kind: String,
        state: String,
        updated_at: DateTime<Utc>,
    },
    Task(TaskRow),
    Timer(String, DateTime<Utc>, String),
    Counter(String, i64),
    Suppression(String, String, DateTime<Utc>),
}

impl Copied {
    /// The id paging continues after.
    pub fn id(&self) -> i64 {
        match self {
            Copied::Lead(l) => l.id,
            Copied::Enrolment { id, .. } | Copied::Delivery { id, .. } => *id,
            Copied::Task(t) => t.id,
            _ => 0,
        }
    }
}

#[async_trait]
pub trait Copying: Send + Sync {
    /// A page of rows by id, after `after_id`.
    async fn copy_page(&self, table: Table, after_id: i64, limit: i64) -> Result<Vec<Copied>>;
    /// Insert copied rows as they are, ids kept, in one transaction.
    async fn paste(&self, rows: &[Copied]) -> Result<()>;
}

/// Everything the engine reads: leads, all enrolments (again_after needs
/// the ended ones), deliveries since `look_back` (the caps), open tasks
/// (digests), timers, counters and suppressions.
pub async fn copy(from: &dyn Store, to: &dyn Store, look_back: DateTime<Utc>) -> Result<()> {
    for table in [Table::Small, Table::Leads, Table::Enrolments, Table::Deliveries(look_back), Table::OpenTasks] {
        let mut after = 0;
        loop {
            let rows = from.copy_page(table, after, PAGE).await?;
            to.paste(&rows).await?;
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => after = last.id(),
                _ => break,
            }
        }
    }
    Ok(())
}

fn enrolment_from(r: &Row) -> Result<Copied> {
    Ok(Copied::Enrolment {
        id: r.get("id")?,
        campaign: r.get("campaign")?,
        lead_id: r.get("lead_id")?,
        active: r.get("active")?,
        enrolled_at: r.get("enrolled_at")?,
        step_id: r.get("step_id")?,
        due_at: r.get("due_at")?,
        last_step_id: r.get("last_step_id")?,
        ended_at: r.get("ended_at")?,
        end_reason: r.get("end_reason")?,
    })
}

fn delivery_from(r: &Row) -> Result<Copied> {
    Ok(Copied::Delivery {
        id: r.get("id")?,
        enrolment_id: r.get("enrolment_id")?,
        lead_id: r.get("lead_id")?,
        campaign: r.get("campaign")?,
        step_id: r.get("step_id")?,
        kind: r.get("kind")?,
        state: r.get("state")?,
        updated_at: r.get("updated_at")?,
    })
}

/// The statement that inserts one copied row.
fn insert(row: &Copied) -> Sql {
    match row {
        Copied::Lead(l) => Sql::new(
            "INSERT INTO leads (id, email, first_name, last_name, company, owner, status, status_changed_at, \
             lost_reason, timezone, attributes, replied_at, created_at, updated_at, paused_until, known_status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $7)",
        )
        .bind(l.id)
        .bind(&l.email)
        .bind(&l.first_name)
        .bind(&l.last_name)
        .bind(&l.company)
        .bind(&l.owner)
        .bind(&l.status)
        .bind(l.status_changed_at)
        .bind(&l.lost_reason)
        .bind(l.timezone.map(|t| t.name().to_string()).unwrap_or_default())
        .bind(serde_json::to_string(&l.attributes).unwrap_or_else(|_| "{}".into()))
        .bind(l.replied_at)
        .bind(l.created_at)
        .bind(l.updated_at)
        .bind(l.paused_until),
        Copied::Enrolment {
            id,
            campaign,
            lead_id,
            active,
            enrolled_at,
            step_id,
            due_at,
            last_step_id,
            ended_at,
            end_reason,
        } => Sql::new(
            "INSERT INTO enrolments (id, campaign, lead_id, active, enrolled_at, step_id, due_at, \
             last_step_id, ended_at, end_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(*id)
        .bind(campaign)
        .bind(*lead_id)
        .bind(*active)
        .bind(*enrolled_at)
        .bind(step_id.clone())
        .bind(*due_at)
        .bind(last_step_id.clone())
        .bind(*ended_at)
        .bind(end_reason.clone()),
        Copied::Delivery { id, enrolment_id, lead_id, campaign, step_id, kind, state, updated_at } => Sql::new(
            "INSERT INTO deliveries (id, enrolment_id, lead_id, campaign, step_id, kind, state, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(*id)
        .bind(*enrolment_id)
        .bind(*lead_id)
        .bind(campaign)
        .bind(step_id)
        .bind(kind)
        .bind(state)
        .bind(*updated_at),
        // The task's delivery may be older than the copied ones: -id keeps
        // delivery_id unique without it.
        Copied::Task(t) => Sql::new(
            "INSERT INTO tasks (id, delivery_id, lead_id, campaign, step_id, rep, text, due_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.id)
        .bind(-t.id)
        .bind(t.lead_id)
        .bind(&t.campaign)
        .bind(&t.step_id)
        .bind(&t.rep)
        .bind(&t.text)
        .bind(t.due_at)
        .bind(t.created_at),
        Copied::Timer(name, at, note) => {
            Sql::new("INSERT INTO timers (name, last_at, note) VALUES ($1, $2, $3)").bind(name).bind(*at).bind(note)
        }
        Copied::Counter(name, value) => {
            Sql::new("INSERT INTO counters (name, value) VALUES ($1, $2)").bind(name).bind(*value)
        }
        Copied::Suppression(email, reason, at) => {
            Sql::new("INSERT INTO suppressions (email, reason, created_at) VALUES ($1, $2, $3)")
                .bind(email)
                .bind(reason)
                .bind(*at)
        }
    }
}

#[async_trait]
impl Copying for Database {
    async fn copy_page(&self, table: Table, after_id: i64, limit: i64) -> Result<Vec<Copied>> {
        let mut c = self.conn().await?;
        let page = |sql: String| Sql::dynamic(sql).bind(after_id).bind(limit);
        match table {
            Table::Leads => {
                let q = page(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.id > $1 ORDER BY l.id LIMIT $2"));
                c.fetch_all(q).await?.iter().map(|r| lead_from(r).map(Copied::Lead)).collect()
            }
            Table::Enrolments => {
                let q = page(
                    "SELECT id, campaign, lead_id, active, enrolled_at, step_id, due_at, last_step_id, \
                     ended_at, end_reason FROM enrolments WHERE id > $1 ORDER BY id LIMIT $2"
                        .into(),
                );
                c.fetch_all(q).await?.iter().map(enrolment_from).collect()
            }
            Table::Deliveries(since) => {
                let q = page(
                    "SELECT id, enrolment_id, lead_id, campaign, step_id, kind, state, updated_at \
                     FROM deliveries WHERE id > $1 AND updated_at >= $3 ORDER BY id LIMIT $2"
                        .into(),
                );
                c.fetch_all(q.bind(since)).await?.iter().map(delivery_from).collect()
            }
            Table::OpenTasks => {
                let q = page(format!("{TASK_SELECT} WHERE t.done_at IS NULL AND t.id > $1 ORDER BY t.id LIMIT $2"));
                c.fetch_all(q).await?.iter().map(|r| task_from(r).map(Copied::Task)).collect()
            }
            Table::Small if after_id > 0 => Ok(Vec::new()),
            Table::Small => {
                let mut out = Vec::new();
                for r in c.fetch_all(Sql::new("SELECT name, last_at, note FROM timers")).await? {
                    out.push(Copied::Timer(r.get("name")?, r.get("last_at")?, r.get("note")?));
                }
                for r in c.fetch_all(Sql::new("SELECT name, value FROM counters")).await? {
                    out.push(Copied::Counter(r.get("name")?, r.get("value")?));
                }
                for r in c.fetch_all(Sql::new("SELECT email, reason, created_at FROM suppressions")).await? {
                    out.push(Copied::Suppression(r.get("email")?, r.get("reason")?, r.get("created_at")?));
                }
                Ok(out)
            }
        }
    }

    async fn paste(&self, rows: &[Copied]) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        for row in rows {
            tx.execute(insert(row)).await?;
        }
        tx.commit().await
    }
}
