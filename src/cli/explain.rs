//! `explain EMAIL [--campaign ID] [--json]`: why the lead is or is not in
//! each campaign, when its next step goes and what set that time, and its
//! timeline.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, db_error};

pub async fn run(
    config: Option<&Path>,
    email: &str,
    campaign: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    if let Some(id) = campaign
        && db.defs().campaign(id).is_none()
    {
        let known: Vec<&str> = db.defs().campaigns.iter().map(|c| c.id.as_str()).collect();
        return Err(Failure::Invalid(format!("--campaign {id:?}: no such campaign; known: {}", known.join(", "))));
    }
    let Some(e) = db.engine.explain(email, campaign, now).await.map_err(db_error)? else {
        return Err(Failure::Invalid(format!(
            "unknown lead {}; import it first with `nurture leads import`",
            email.trim().to_lowercase()
        )));
    };
    if json {
        println!("{}", serde_json::to_string(&e).unwrap_or_default());
    } else {
        print!("{}", e.text());
    }
    Ok(())
}
