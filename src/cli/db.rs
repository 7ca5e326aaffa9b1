//! What the database commands share: definitions, the store (migrated, so a
//! first command on a new database just works) and an engine for the
//! immediate enrolment and exit checks that follow a lead change.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::Failure;
use crate::definitions::Definitions;
use crate::engine::{Engine, Event, Sink};
use crate::links::Links;
use crate::mail::{Discard, Mailer};
use crate::store::Store;

/// Collects what the engine did, for a one-line summary.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Event>>);

impl Sink for Collect {
    fn emit(&self, e: Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(e);
        }
    }
}

pub struct Db {
    pub engine: Engine,
    pub events: Arc<Collect>,
}

impl Db {
    /// The database, for reading; changes go through the engine.
    pub fn store(&self) -> &dyn Store {
        self.engine.store().as_ref()
    }

    pub fn defs(&self) -> &Definitions {
        self.engine.defs()
    }

    /// "enrolled in winback, nurture; left speed-to-lead (status changed to won)"
    pub fn summary(&self) -> String {
        use crate::engine::events::Kind;
        let events = self.events.0.lock().map(|v| v.clone()).unwrap_or_default();
        let mut parts = Vec::new();
        let enrolled: Vec<String> =
            events.iter().filter(|e| e.event == Kind::Enrolled).filter_map(|e| e.campaign.clone()).collect();
        if !enrolled.is_empty() {
            parts.push(format!("enrolled: {}", enrolled.join(", ")));
        }
        for e in events.iter().filter(|e| e.event == Kind::Exited) {
            parts.push(format!(
                "left {} ({})",
                e.campaign.as_deref().unwrap_or("?"),
                e.reason.as_deref().unwrap_or("")
            ));
        }
        parts.join("; ")
    }
}

/// Every database command migrates first, so the first one on a new
/// database just works.
pub async fn open(config: Option<&Path>, now: DateTime<Utc>) -> Result<Db, Failure> {
    open_with(config, now, |_| Ok(Arc::new(Discard))).await
}

/// [`open`] with a mailer made from the config, for a command that sends
/// (`inbound`'s reply notice), and the link keys of earlier rotations.
pub async fn open_with(
    config: Option<&Path>,
    now: DateTime<Utc>,
    mailer: impl FnOnce(&crate::config::Config) -> Result<Arc<dyn Mailer>, Failure>,
) -> Result<Db, Failure> {
    let (defs, diags) = Definitions::load(config, now);
    if diags.has_errors() {
        eprint!("{diags}");
        eprintln!("warning: campaigns with errors are left out until they are fixed");
    }
    let url = defs.config.database.connect_url().map_err(Failure::Environment)?;
    let pg = crate::store::PgOptions::of(&defs.config.database);
    let store = crate::store::open_with(&url, defs.config.database.max_connections, crate::replica::DEFAULT_LEASE, &pg)
        .await
        .map_err(|e| Failure::Environment(format!("cannot open {}: {e}", defs.config.database.url)))?;
    store.migrate().await.map_err(|e| Failure::Environment(e.to_string()))?;
    let previous = crate::secret::load_previous(&defs.config).unwrap_or_default();
    let links = Links::new(&defs.config.http.public_url, &crate::secret::load(&defs.config).unwrap_or_default())
        .with_previous(previous);
    let mailer = mailer(&defs.config)?;
    let events = Arc::new(Collect::default());
    let engine = Engine::new(Arc::new(defs), store, mailer, links, events.clone());
    Ok(Db { engine, events })
}

pub fn db_error(e: impl std::fmt::Display) -> Failure {
    Failure::Environment(format!("database: {e}"))
}
