//! `leads import|set-status|event|show`, `suppress`, `unsuppress`: changes
//! to leads, made through the engine so the exit and enrolment checks
//! follow at once, and a lead with its history.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, Db, db_error};
use crate::engine::EngineError;

pub async fn import(config: Option<&Path>, csv: &Path, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let engine = &db.engine;
    let statuses = db.defs().config.statuses.clone();
    let write = |batch: Vec<crate::store::NewLead>| async move {
        engine.upsert_leads(&batch, crate::store::Source::Csv, now).await.map(|_| ()).map_err(|e| e.to_string())
    };
    let count = crate::import::import(csv, &statuses, write, |w| eprintln!("{w}")).await.map_err(import_failure)?;
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

/// A lead change the engine refused or could not make.
fn failure(e: EngineError) -> Failure {
    match e {
        EngineError::UnknownLead(email) => {
            Failure::Invalid(format!("unknown lead {email}; import it first with `nurture leads import`"))
        }
        e @ EngineError::UnknownStatus { .. } => Failure::Invalid(e.to_string()),
        e => db_error(e),
    }
}

/// What the change did to the lead's enrolments, if anything.
fn print_summary(db: &Db, email: &str) {
    let summary = db.summary();
    if !summary.is_empty() {
        println!("{email}: {summary}");
    }
}

pub async fn set_status(
    config: Option<&Path>,
    email: &str,
    status: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let before = db.engine.set_status(email, status, reason, crate::store::Source::Cli, now).await.map_err(failure)?;
    println!("{}: status {} -> {status}", before.email, before.status);
    print_summary(&db, &before.email);
    Ok(())
}

pub async fn replied(config: Option<&Path>, email: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let lead = db.engine.replied(email, crate::store::Source::Cli, now).await.map_err(failure)?;
    println!("{}: reply recorded", lead.email);
    print_summary(&db, &lead.email);
    Ok(())
}

pub async fn suppress(config: Option<&Path>, email: &str, on: bool, now: DateTime<Utc>) -> Result<(), Failure> {
    let address = crate::email::parse_address(email).map_err(Failure::Invalid)?.to_string();
    let db = db::open(config, now).await?;
    let done = if on {
        db.engine.suppress(&address, "added by hand", crate::store::Source::Cli, now).await
    } else {
        db.engine.unsuppress(&address, crate::store::Source::Cli, now).await
    };
    let verb = if on { "suppressed" } else { "no longer suppressed" };
    println!("{address}: {}", if done.map_err(failure)? { verb.to_string() } else { format!("already {verb}") });
    print_summary(&db, &address);
    Ok(())
}

/// `leads show EMAIL [--json]`: exit 1 for an unknown lead.
pub async fn show(config: Option<&Path>, email: &str, json: bool, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let Some(view) = db.engine.lead_view(email, now).await.map_err(db_error)? else {
        return Err(failure(EngineError::UnknownLead(email.trim().to_lowercase())));
    };
    if json {
        println!("{}", serde_json::to_string(&view).unwrap_or_default());
    } else {
        print!("{}", view.text());
    }
    Ok(())
}
