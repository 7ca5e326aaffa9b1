//! `status [--json]`: what the daemon has to do and what it has done.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Failure;
use super::db::{self, db_error};
use crate::template::context::rfc3339;

pub async fn run(config: Option<&Path>, as_json: bool, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let r = db.store().status(now).await.map_err(db_error)?;
    let day = |s: &str| r.last_24h.get(s).copied().unwrap_or(0);
    let jobs = crate::housekeeping::last_runs(db.store()).await.map_err(db_error)?;
    let mut webhooks = Vec::new();
    for h in &db.defs().config.webhooks {
        webhooks.push((h.name.clone(), db.store().hook_stats(&h.name).await.map_err(db_error)?));
    }
    if as_json {
        let v = json!({
            "active_enrolments": r.active_enrolments,
            "due_now": r.due_now,
            "sent_24h": day("sent"),
            "failed_24h": day("failed"),
            "uncertain_24h": day("uncertain"),
            "open_tasks": r.open_tasks,
            "next_due_at": r.next_due_at.map(rfc3339),
            "last_24h": r.last_24h,
            "total": r.total,
            "housekeeping": jobs,
            "webhooks": webhooks.iter().map(|(n, s)| (n.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
        });
        println!("{v}");
        return Ok(());
    }
    println!("active enrolments  {}", r.active_enrolments);
    println!("due now            {}", r.due_now);
    println!("open tasks         {}", r.open_tasks);
    println!("next due           {}", r.next_due_at.map_or("-".to_string(), rfc3339));
    println!("last 24 h          {}", line(&r.last_24h));
    println!("all time           {}", line(&r.total));
    for j in &jobs {
        let outcome = if j.ok { "ok" } else { "FAILED" };
        println!("{:<19}{} {outcome}: {}", format!("{} job", j.job), rfc3339(j.at), j.detail);
    }
    for (name, s) in &webhooks {
        let state = match &s.disabled {
            Some((at, why)) => format!("DISABLED since {} ({why})", rfc3339(*at)),
            None => format!("{} pending, {} dead, {} delivered", s.pending, s.dead, s.delivered),
        };
        println!("{:<19}{state}", format!("webhook {name}"));
    }
    Ok(())
}

fn line(counts: &std::collections::BTreeMap<String, i64>) -> String {
    counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}
