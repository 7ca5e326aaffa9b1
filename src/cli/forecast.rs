//! `nurture forecast --days N`: what the live database would produce in the
//! next N days, per day, campaign and step. Read-only (but for creating the
//! tables of a new database, as every database command does): the live state is
//! copied page by page into a scratch database and the real engine runs
//! there on a virtual clock, so caps, windows and sweeps are all counted
//! exactly as `run` would apply them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use super::Failure;
use super::db::{self, db_error};
use crate::engine::events::Kind;
use crate::engine::{Engine, Event, Sink};
use crate::mail::Discard;
use crate::store::{Database, Store};

/// (day, campaign, step, kind) -> count
#[derive(Default)]
struct Tally(Mutex<BTreeMap<(String, String, String, String), usize>>);

impl Sink for Tally {
    fn emit(&self, e: Event) {
        let kind = match e.event {
            Kind::Email => "email",
            Kind::Task => "task",
            Kind::Enrolled => "enrolled",
            Kind::Skipped => "skipped",
            _ => return,
        };
        let key = (
            e.at.format("%Y-%m-%d").to_string(),
            e.campaign.unwrap_or_default(),
            e.step.unwrap_or_else(|| "-".into()),
            kind.to_string(),
        );
        if let Ok(mut t) = self.0.lock() {
            *t.entry(key).or_default() += 1;
        }
    }
}

pub async fn run(config: Option<&Path>, days: u32, now: DateTime<Utc>) -> Result<(), Failure> {
    let now = now - TimeDelta::nanoseconds(now.timestamp_subsec_nanos().into());
    // Migrated like every database command: on a new database there is
    // nothing to forecast, which is an answer, not an error.
    let live = db::open(config, now).await?;
    let scratch_dir = tempfile::tempdir().map_err(|e| Failure::Environment(e.to_string()))?;
    let scratch = Database::scratch(&scratch_dir.path().join("forecast.db")).await.map_err(db_error)?;
    scratch.migrate().await.map_err(db_error)?;
    let caps = &live.defs().config.policy.caps;
    let look_back = now - caps.per.max(caps.min_gap);
    crate::store::copy::copy(live.store(), &scratch, look_back).await.map_err(db_error)?;
    let tally = Arc::new(Tally::default());
    let defs = live.engine.defs().clone();
    let links = live.engine.links().clone();
    let engine = Engine::new(defs, Arc::new(scratch), Arc::new(Discard), links, tally.clone());
    engine.run_virtual(now, now + TimeDelta::days(days.into())).await.map_err(db_error)?;
    let counts = tally.0.lock().map(|t| t.clone()).unwrap_or_default();
    if counts.is_empty() {
        println!("nothing would happen in the next {days} day(s)");
        return Ok(());
    }
    println!("{:<10}  {:<20}  {:<20}  {:<8}  {:>6}", "day (UTC)", "campaign", "step", "what", "count");
    for ((day, campaign, step, kind), n) in counts {
        println!("{day:<10}  {campaign:<20}  {step:<20}  {kind:<8}  {n:>6}");
    }
    Ok(())
}
