//! `campaigns list|pause|resume`: each campaign's state, and the pauses
//! ops set and lift (guardrails set them too; see engine/guard.rs).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, db_error};
use crate::store::pauses::ALL;
use crate::template::context::rfc3339;

pub async fn list(config: Option<&Path>, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let pauses = db.engine.pauses().await.map_err(db_error)?;
    let paused = |scope: &str| pauses.iter().find(|p| p.scope == scope);
    if let Some(p) = paused(ALL) {
        println!("ALL SENDING PAUSED by {} since {}: {}", p.by, rfc3339(p.at), p.reason);
        println!("  lift it with `nurture campaigns resume all`\n");
    }
    let campaigns = &db.defs().campaigns;
    if campaigns.is_empty() {
        println!("no campaigns in {}", db.defs().config.campaigns_dir.display());
    }
    for c in campaigns {
        let state = match (c.enabled, paused(&c.id)) {
            (_, Some(p)) => format!("paused by {} since {}: {}", p.by, rfc3339(p.at), p.reason),
            (true, None) => "enabled".to_string(),
            (false, None) => "disabled (enabled = false)".to_string(),
        };
        println!("{:<24} {state}\n{:<24} {}", c.id, "", c.name);
    }
    Ok(())
}

pub async fn pause(config: Option<&Path>, id: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let scope = known(&db, id)?;
    let new = db.engine.pause(&scope, "paused by hand", "hand", now).await.map_err(db_error)?;
    match new {
        true => println!("{scope}: paused; due steps wait until `nurture campaigns resume {scope}`"),
        false => println!("{scope}: already paused"),
    }
    Ok(())
}

pub async fn resume(config: Option<&Path>, id: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let scope = known(&db, id)?;
    match db.engine.resume(&scope).await.map_err(db_error)? {
        true => println!("{scope}: resumed; what was due goes out at the next tick, once"),
        false => println!("{scope}: was not paused"),
    }
    Ok(())
}

/// A campaign id of the definitions, or `all`.
fn known(db: &db::Db, id: &str) -> Result<String, Failure> {
    let campaigns = &db.defs().campaigns;
    if id == ALL || campaigns.iter().any(|c| c.id == id) {
        return Ok(id.to_string());
    }
    let ids: Vec<&str> = campaigns.iter().map(|c| c.id.as_str()).collect();
    Err(Failure::Invalid(format!("unknown campaign {id:?}; known: {} (or `all` for all sending)", ids.join(", "))))
}
