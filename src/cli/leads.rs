//! `leads import|set-status|event`, `suppress`, `unsuppress`: changes to
//! leads, each followed at once by the exit and enrolment checks.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, Db, db_error};
use crate::lead::Lead;

pub async fn import(config: Option<&Path>, csv: &Path, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let (store, engine) = (db.store(), &db.engine);
    let statuses = db.defs().config.statuses.clone();
    let count = crate::import::import(csv, &statuses, |batch| async move {
        for id in store.upsert_leads(&batch, now).await.map_err(|e| e.to_string())? {
            if let Some(lead) = store.lead(id).await.map_err(|e| e.to_string())? {
                engine.lead_changed(&lead, now).await.map_err(|e| e.to_string())?;
            }
        }
        Ok::<(), String>(())
    })
    .await
    .map_err(import_failure)?;
    let changes = db.events.0.lock().map(|v| v.len()).unwrap_or(0);
    println!("imported {count} lead(s); {changes} enrolment change(s)");
    Ok(())
}

pub fn import_failure(e: crate::import::ImportError<String>) -> Failure {
    match e {
        crate::import::ImportError::Invalid(d) => Failure::Invalid(format!("{d}\nnothing was imported")),
        crate::import::ImportError::Write(e) => db_error(e),
    }
}

async fn find(db: &Db, email: &str) -> Result<Lead, Failure> {
    db.store()
        .lead_by_email(email)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Failure::Invalid(format!("unknown lead {email}; import it first with `nurture leads import`")))
}

async fn changed(db: &Db, email: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let lead = find(db, email).await?;
    db.engine.lead_changed(&lead, now).await.map_err(db_error)?;
    let summary = db.summary();
    if !summary.is_empty() {
        println!("{}: {summary}", lead.email);
    }
    Ok(())
}

pub async fn set_status(
    config: Option<&Path>,
    email: &str,
    status: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let statuses = &db.defs().config.statuses;
    if !statuses.iter().any(|s| s == status) {
        return Err(Failure::Invalid(format!("unknown status {status:?}; known: {}", statuses.join(", "))));
    }
    let lead = find(&db, email).await?;
    db.store().set_status(lead.id, status, reason, now).await.map_err(db_error)?;
    println!("{}: status {} -> {status}", lead.email, lead.status);
    changed(&db, email, now).await
}

pub async fn replied(config: Option<&Path>, email: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let lead = find(&db, email).await?;
    db.store().record_reply(lead.id, now).await.map_err(db_error)?;
    println!("{}: reply recorded", lead.email);
    changed(&db, email, now).await
}

pub async fn suppress(config: Option<&Path>, email: &str, on: bool, now: DateTime<Utc>) -> Result<(), Failure> {
    let address = crate::email::parse_address(email).map_err(Failure::Invalid)?.to_string();
    let db = db::open(config, now).await?;
    let done = if on {
        db.store().suppress(&address, "added by hand", now).await.map_err(db_error)?
    } else {
        db.store().unsuppress(&address, now).await.map_err(db_error)?
    };
    let verb = if on { "suppressed" } else { "no longer suppressed" };
    println!("{address}: {}", if done { verb.to_string() } else { format!("already {verb}") });
    if db.store().lead_by_email(&address).await.map_err(db_error)?.is_some() {
        changed(&db, &address, now).await?;
    }
    Ok(())
}
