//! `nurture simulate`: the real engine on a throwaway in-memory database,
//! driven by a virtual clock that jumps from one thing to do to the next.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use super::Failure;
use crate::definitions::Definitions;
use crate::engine::{Engine, Event, Sink};
use crate::links::Links;
use crate::mail::Discard;
use crate::store::{Database, Store};

pub struct Options<'a> {
    pub days: u32,
    pub leads: Option<&'a Path>,
    pub start: Option<&'a str>,
    pub json: bool,
}

struct Printer {
    json: bool,
    out: Mutex<std::io::BufWriter<std::io::Stdout>>,
}

impl Sink for Printer {
    fn emit(&self, e: Event) {
        let line = if self.json { serde_json::to_string(&e).unwrap_or_default() } else { e.line() };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }
}

pub async fn run(config: Option<&Path>, o: Options<'_>, now: DateTime<Utc>) -> Result<(), Failure> {
    let start = match o.start {
        Some(s) => crate::import::parse_time(s).map_err(|e| Failure::Usage(format!("--start: {e}")))?,
        None => now,
    };
    let start = start.with_timezone(&Utc) - TimeDelta::nanoseconds(start.timestamp_subsec_nanos().into());
    let end = start + TimeDelta::days(o.days.into());
    let (defs, diags) = Definitions::load(config, start);
    if diags.has_errors() {
        eprint!("{diags}");
        return Err(Failure::Invalid("simulate: fix the errors above first (see `nurture check`)".into()));
    }
    let scratch = tempfile::tempdir().map_err(|e| Failure::Environment(e.to_string()))?;
    let store = Database::scratch(&scratch.path().join("simulate.db"))
        .await
        .map_err(|e| Failure::Environment(e.to_string()))?;
    store.migrate().await.map_err(|e| Failure::Environment(e.to_string()))?;
    let printer = Arc::new(Printer { json: o.json, out: Mutex::new(std::io::BufWriter::new(std::io::stdout())) });
    let links = Links::new(&defs.config.http.public_url, b"simulate");
    let statuses = defs.config.statuses.clone();
    let engine = Engine::new(Arc::new(defs), Arc::new(store), Arc::new(Discard), links, printer.clone());
    if let Some(path) = o.leads {
        let engine = &engine;
        crate::import::import(path, &statuses, |batch| async move {
            engine.seed_leads(&batch, start).await.map_err(|e| e.to_string())
        })
        .await
        .map_err(super::leads::import_failure)?;
    }
    engine.run_virtual(start, end).await.map_err(|e| Failure::Environment(e.to_string()))?;
    if let Ok(mut out) = printer.out.lock() {
        let _ = out.flush();
    }
    Ok(())
}
