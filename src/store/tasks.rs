//! Rep tasks: created by task steps, listed in digests, done by a link or
//! the CLI.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use serde_json::json;

use super::enrolments::Due;
use super::outbox::{self, About};
use super::sql::{Row, Run, Sql};
use super::{Database, Result};
use crate::template::context::rfc3339;

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub rep: String,
    pub text: String,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: i64,
    pub lead_id: i64,
    pub lead_email: String,
    pub lead_name: String,
    pub company: String,
    pub campaign: String,
    pub step_id: String,
    pub rep: String,
    pub text: String,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Tasks: Send + Sync {
    async fn create_task(&self, delivery_id: i64, due: &Due, task: &NewTask) -> Result<i64>;
    async fn open_tasks(&self, rep: Option<&str>) -> Result<Vec<TaskRow>>;
    /// A rep's first `limit` open tasks by due time, and how many are open
    /// in all: a digest never holds more than it lists.
    async fn first_open_tasks(&self, rep: &str, limit: i64) -> Result<(Vec<TaskRow>, i64)>;
    /// Reps with at least one open task.
    async fn reps_with_open_tasks(&self) -> Result<Vec<String>>;
    async fn task(&self, id: i64) -> Result<Option<TaskRow>>;
    /// Leads ready now: open hand-off tasks, oldest hand-off first, each
    /// with why it was made (the console's *Ready now*).
    async fn ready_now(&self) -> Result<Vec<(TaskRow, String)>>;
    /// False if the task was done already (or does not exist).
    /// Also recorded in the lead's history, with who closed it.
    async fn task_done(&self, id: i64, source: super::Source, now: DateTime<Utc>) -> Result<bool>;
}

/// Tasks with their leads, read by [`task_from`].
pub(super) const TASK_SELECT: &str = "SELECT t.id, t.lead_id, t.campaign, t.step_id, t.rep, t.text, t.due_at, \
     t.created_at, t.done_at, l.email, l.first_name, l.last_name, l.company \
     FROM tasks t JOIN leads l ON l.id = t.lead_id";

pub(super) fn task_from(r: &Row) -> Result<TaskRow> {
    let first: String = r.get("first_name")?;
    let last: String = r.get("last_name")?;
    Ok(TaskRow {
        id: r.get("id")?,
        lead_id: r.get("lead_id")?,
        lead_email: r.get("email")?,
        lead_name: format!("{first} {last}").trim().to_string(),
        company: r.get("company")?,
        campaign: r.get("campaign")?,
        step_id: r.get("step_id")?,
        rep: r.get("rep")?,
        text: r.get("text")?,
        due_at: r.get("due_at")?,
        created_at: r.get("created_at")?,
        done_at: r.get("done_at")?,
    })
}

#[async_trait]
impl Tasks for Database {
    async fn create_task(&self, delivery_id: i64, due: &Due, task: &NewTask) -> Result<i64> {
        let q = Sql::new(
            "INSERT INTO tasks (delivery_id, lead_id, campaign, step_id, rep, text, due_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        );
        let q = q.bind(delivery_id).bind(due.lead_id).bind(&due.campaign).bind(&due.step_id);
        let q = q.bind(&task.rep).bind(&task.text).bind(task.due_at).bind(task.created_at);
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let id: i64 = tx.fetch_one(q).await?.get("id")?;
        let data = json!({
            "task_id": id, "rep": task.rep, "text": task.text, "due_at": rfc3339(task.due_at),
            "campaign": due.campaign, "step": due.step_id, "handoff": false,
        });
        outbox::record(&mut tx, "task.created", About::Lead(due.lead_id), data, task.created_at).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn open_tasks(&self, rep: Option<&str>) -> Result<Vec<TaskRow>> {
        let q = match rep {
            Some(rep) => {
                Sql::dynamic(format!("{TASK_SELECT} WHERE t.done_at IS NULL AND t.rep = $1 ORDER BY t.due_at, t.id"))
                    .bind(rep.trim().to_lowercase())
            }
            None => Sql::dynamic(format!("{TASK_SELECT} WHERE t.done_at IS NULL ORDER BY t.rep, t.due_at, t.id")),
        };
        self.conn().await?.fetch_all(q).await?.iter().map(task_from).collect()
    }

    async fn first_open_tasks(&self, rep: &str, limit: i64) -> Result<(Vec<TaskRow>, i64)> {
        let rep = rep.trim().to_lowercase();
        let first = Sql::dynamic(format!(
            "{TASK_SELECT} WHERE t.done_at IS NULL AND t.rep = $1 ORDER BY t.due_at, t.id LIMIT $2"
        ));
        let tasks: Vec<TaskRow> = self
            .conn()
            .await?
            .fetch_all(first.bind(rep.as_str()).bind(limit))
            .await?
            .iter()
            .map(task_from)
            .collect::<Result<_>>()?;
        let count = Sql::new("SELECT COUNT(*) AS n FROM tasks WHERE done_at IS NULL AND rep = $1").bind(rep);
        let total: i64 = self.conn().await?.fetch_one(count).await?.get("n")?;
        Ok((tasks, total))
    }

    async fn reps_with_open_tasks(&self) -> Result<Vec<String>> {
        let q = Sql::new("SELECT DISTINCT rep FROM tasks WHERE done_at IS NULL ORDER BY rep");
        self.conn().await?.fetch_all(q).await?.iter().map(|r| r.get("rep")).collect()
    }

    async fn ready_now(&self) -> Result<Vec<(TaskRow, String)>> {
        let columns = TASK_SELECT.trim_start_matches("SELECT ");
        let q = Sql::dynamic(format!(
            "SELECT h.why, {columns} JOIN handoffs h ON h.task_id = t.id WHERE t.done_at IS NULL ORDER BY h.at, t.id"
        ));
        let rows = self.conn().await?.fetch_all(q).await?;
        rows.iter().map(|r| Ok((task_from(r)?, r.get("why")?))).collect()
    }

    async fn task(&self, id: i64) -> Result<Option<TaskRow>> {
        let q = Sql::dynamic(format!("{TASK_SELECT} WHERE t.id = $1")).bind(id);
        self.conn().await?.fetch_optional(q).await?.as_ref().map(task_from).transpose()
    }

    async fn task_done(&self, id: i64, source: super::Source, now: DateTime<Utc>) -> Result<bool> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new("UPDATE tasks SET done_at = $2 WHERE id = $1 AND done_at IS NULL").bind(id).bind(now);
        let closed = tx.execute(q).await? == 1;
        if closed {
            let record = Sql::new(
                "INSERT INTO history (lead_id, at, kind, detail, source) \
                 SELECT lead_id, $2, 'task_done', text, $3 FROM tasks WHERE id = $1",
            );
            tx.execute(record.bind(id).bind(now).bind(source.as_str())).await?;
            let q = Sql::new("SELECT lead_id, rep, text FROM tasks WHERE id = $1").bind(id);
            let t = tx.fetch_one(q).await?;
            let data = json!({ "task_id": id, "rep": t.get::<String>("rep")?, "text": t.get::<String>("text")?, "source": source.as_str() });
            outbox::record(&mut tx, "task.done", About::Lead(t.get("lead_id")?), data, now).await?;
        }
        tx.commit().await?;
        Ok(closed)
    }
}
