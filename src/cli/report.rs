//! `report [--campaign ID] [--since DATE] [--json]`: what each campaign
//! step led to and how reps handle their tasks, from the database.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, db_error};

pub async fn run(
    config: Option<&Path>,
    campaign: Option<&str>,
    since: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let since = match since {
        Some(s) => crate::import::parse_time(s).map_err(|e| Failure::Usage(format!("--since: {e}")))?,
        None => DateTime::UNIX_EPOCH,
    };
    let db = db::open(config, now).await?;
    if let Some(id) = campaign
        && db.defs().campaign(id).is_none()
    {
        eprintln!("warning: no campaign {id:?} is defined now; its past activity, if any, is shown");
    }
    let report = crate::report::build(db.defs(), db.store(), campaign, since, now).await.map_err(db_error)?;
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}
