//! `campaigns list|pause|resume|winner`: each campaign's state and its
//! steps' A/B tests, the pauses ops set and lift (guardrails set them too;
//! see engine/guard.rs), and a test ended by hand.

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
    let tests = db.store().step_tests().await.map_err(db_error)?;
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
        for step in c.steps.iter().filter(|s| !s.variants.is_empty()) {
            let stored = tests.iter().find(|t| t.campaign == c.id && t.step == step.id);
            println!("{:<24} {}", "", test_line(step, stored));
        }
    }
    Ok(())
}

/// A step's variants and its test's state, one line.
fn test_line(step: &crate::campaign::Step, stored: Option<&crate::store::StepTest>) -> String {
    let ids: Vec<&str> = step.variants.iter().map(|v| v.id.as_str()).collect();
    let what = match &step.test {
        Some(t) => format!("test by {}, {} each, confidence {}", t.metric.as_str(), t.min_sample, t.confidence),
        None => "no test: shared by weight".into(),
    };
    let state = match stored {
        Some(t) if t.winner.is_some() => {
            let by = match t.chance {
                Some(p) => format!("won at look {} ({:.1} % best)", t.looks, p * 100.0),
                None => "set by hand".into(),
            };
            let at = t.decided_at.map(rfc3339).unwrap_or_default();
            format!("winner {} since {at}: {by}", t.winner.as_deref().unwrap_or(""))
        }
        Some(t) if t.looks > 0 => format!("no winner yet after {} looks", t.looks),
        _ if step.test.is_some() => "no winner yet: waiting for the samples".into(),
        _ => "no winner".into(),
    };
    format!("step {}: variants {}; {what}; {state}", step.id, ids.join(", "))
}

/// End a step's test by hand: later leads get `variant`.
pub async fn winner(
    config: Option<&Path>,
    id: &str,
    step: &str,
    variant: &str,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let defs = db.engine.defs().clone();
    let Some(c) = defs.campaign(id) else {
        let ids: Vec<&str> = defs.campaigns.iter().map(|c| c.id.as_str()).collect();
        return Err(Failure::Invalid(format!("unknown campaign {id:?}; known: {}", ids.join(", "))));
    };
    let tested: Vec<&str> = c.steps.iter().filter(|s| !s.variants.is_empty()).map(|s| s.id.as_str()).collect();
    let Some(s) = c.step(step).filter(|s| !s.variants.is_empty()) else {
        return Err(Failure::Invalid(format!(
            "campaign {id} has no step {step:?} with variants; steps with variants: {}",
            if tested.is_empty() { "none".to_string() } else { tested.join(", ") }
        )));
    };
    if !s.variants.iter().any(|v| v.id == variant) {
        let ids: Vec<&str> = s.variants.iter().map(|v| v.id.as_str()).collect();
        return Err(Failure::Invalid(format!("step {step} has no variant {variant:?}; variants: {}", ids.join(", "))));
    }
    db.engine.set_winner(c, s, variant, now).await.map_err(db_error)?;
    println!("{id}/{step}: variant {variant} is the winner; every later lead gets it");
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
