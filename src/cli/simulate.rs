//! `nurture simulate`: the real engine on a throwaway in-memory database,
//! driven by a virtual clock that jumps from one thing to do to the next;
//! with `--inbound DIR`, the messages of DIR arrive at their `Date`; with
//! `--events FILE`, leads click, answer and visit at their `at`.

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
    pub inbound: Option<&'a Path>,
    pub events: Option<&'a Path>,
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
    let (mut defs, diags) = Definitions::load(config, start);
    if diags.has_errors() {
        eprint!("{diags}");
        return Err(Failure::Invalid("simulate: fix the errors above first (see `nurture check`)".into()));
    }
    let mut arrivals: Vec<(DateTime<Utc>, Arrival)> = match o.inbound {
        Some(dir) => messages(dir, start, end)?.into_iter().map(|(at, raw)| (at, Arrival::Mail(raw))).collect(),
        None => Vec::new(),
    };
    if let Some(path) = o.events {
        let answers: Vec<String> = defs.config.answers.iter().map(|a| a.name.clone()).collect();
        for (at, h) in super::happenings::read(path, &answers)? {
            if at < start || at >= end {
                eprintln!(
                    "warning: {}: an event at {} is outside the simulated days; left out",
                    path.display(),
                    at.to_rfc3339()
                );
                continue;
            }
            arrivals.push((at, Arrival::Happening(Box::new(h))));
        }
    }
    // Stable: mail before events at one instant, each in its file's order.
    arrivals.sort_by_key(|(at, _)| *at);
    // A made-up report cannot carry the signed return path of an email
    // sent in the simulation: its failed recipient is trusted instead.
    defs.config.mail.return_path = None;
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
        let write = |batch: Vec<crate::store::NewLead>| async move {
            engine.seed_leads(&batch, start).await.map_err(|e| e.to_string())
        };
        crate::import::import(path, &statuses, write, |w| eprintln!("{w}"))
            .await
            .map_err(super::leads::import_failure)?;
    }
    let failed = |e: crate::engine::EngineError| Failure::Environment(e.to_string());
    let mut t = start;
    for (at, arrival) in arrivals {
        engine.run_virtual(t, at).await.map_err(failed)?;
        match arrival {
            Arrival::Mail(raw) => drop(engine.inbound(&raw, at).await.map_err(failed)?),
            Arrival::Happening(h) => super::happenings::apply(&engine, &h, at).await.map_err(failed)?,
        }
        t = at;
    }
    engine.run_virtual(t, end).await.map_err(failed)?;
    if let Ok(mut out) = printer.out.lock() {
        let _ = out.flush();
    }
    Ok(())
}

/// A message and when it arrives.
type Dated = (DateTime<Utc>, Vec<u8>);

/// What comes from outside on the virtual clock.
enum Arrival {
    /// An inbound message (`--inbound`).
    Mail(Vec<u8>),
    /// A click, answer or event (`--events`).
    Happening(Box<super::happenings::Happening>),
}

/// The `.eml` files of `dir` dated within the simulated days, in the
/// order they arrive (by `Date`, then file name). A file without a
/// readable `Date` is an error naming it; one dated outside is left out,
/// with a warning.
fn messages(dir: &Path, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<Dated>, Failure> {
    let read = |e: std::io::Error| Failure::Invalid(format!("--inbound {}: {e}", dir.display()));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Failure::Invalid(format!("--inbound {}: no .eml files in it", dir.display())));
    }
    let mut out = Vec::new();
    for path in files {
        let raw = std::fs::read(&path).map_err(|e| Failure::Invalid(format!("{}: {e}", path.display())))?;
        let Some(at) = crate::inbound::classify(&raw, start).date else {
            return Err(Failure::Invalid(format!(
                "{}: no readable Date header; add one (e.g. \"Date: Tue, 3 Mar 2026 10:00:00 +0100\") to say when it arrives",
                path.display()
            )));
        };
        if at < start || at >= end {
            eprintln!(
                "warning: {}: dated {}, outside the simulated days ({} to {}); left out",
                path.display(),
                at.to_rfc3339(),
                start.to_rfc3339(),
                end.to_rfc3339()
            );
            continue;
        }
        out.push((at, raw));
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(out)
}
