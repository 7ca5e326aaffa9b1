//! What the live database would produce in the next days: the live state
//! copied page by page into a scratch database, and the real engine run
//! there on a virtual clock, so caps, windows and sweeps count exactly as
//! `run` applies them. `nurture forecast` prints it; the console charts it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::engine::events::Kind;
use crate::engine::{Engine, Event, Result, Sink};
use crate::mail::Discard;
use crate::store::{Database, Store};

/// (day, campaign, step, kind) -> count; kinds `email`, `task`,
/// `enrolled`, `skipped`.
pub type Counts = BTreeMap<(String, String, String, String), usize>;

#[derive(Default)]
struct Tally(Mutex<Counts>);

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

/// The next `days` days from `now` of what `live` would do. Reads `live`
/// only.
pub async fn forecast(live: &Engine, days: u32, now: DateTime<Utc>) -> Result<Counts> {
    let now = now - TimeDelta::nanoseconds(now.timestamp_subsec_nanos().into());
    let scratch_dir = tempfile::tempdir().map_err(|e| crate::engine::EngineError::Write(e.to_string()))?;
    let scratch = Database::scratch(&scratch_dir.path().join("forecast.db")).await?;
    scratch.migrate().await?;
    let caps = &live.defs().config.policy.caps;
    let look_back = now - caps.per.max(caps.min_gap);
    crate::store::copy::copy(live.store().as_ref(), &scratch, look_back).await?;
    let tally = Arc::new(Tally::default());
    let engine =
        Engine::new(live.defs().clone(), Arc::new(scratch), Arc::new(Discard), live.links().clone(), tally.clone());
    engine.run_virtual(now, now + TimeDelta::days(days.into())).await?;
    Ok(tally.0.lock().map(|t| t.clone()).unwrap_or_default())
}
