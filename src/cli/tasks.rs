//! `tasks list [--rep]`, `tasks done ID`: the reps' to-do list.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, db_error};
use crate::template::context::rfc3339;

pub async fn list(config: Option<&Path>, rep: Option<&str>, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let tasks = db.store().open_tasks(rep).await.map_err(db_error)?;
    if tasks.is_empty() {
        println!("no open tasks");
    }
    for t in tasks {
        let late = if t.due_at < now { " (overdue)" } else { "" };
        println!(
            "{:>6}  {}  due {}{late}  {} <{}>  {}/{}\n        {}",
            t.id,
            t.rep,
            rfc3339(t.due_at),
            t.lead_name,
            t.lead_email,
            t.campaign,
            t.step_id,
            t.text
        );
    }
    Ok(())
}

pub async fn done(config: Option<&Path>, id: i64, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    match db.engine.task_done(id, crate::store::Source::Cli, now).await.map_err(db_error)? {
        None => return Err(Failure::Invalid(format!("no task {id}; see `nurture tasks list`"))),
        Some((task, true)) => println!("task {id} done: {}", task.text),
        Some((_, false)) => println!("task {id} was already done"),
    }
    Ok(())
}
