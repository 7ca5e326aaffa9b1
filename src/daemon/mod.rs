//! `nurture run`: the engine under the wall clock. Ticks every
//! `[schedule] tick`; SIGHUP reloads definitions (keeping the old ones if
//! the new have errors); SIGTERM or SIGINT stops claiming work and exits 0.
//! Signals are served between ticks: a tick runs to its end first, and a
//! tick drains everything due, which at a low `rate_per_second` can take
//! longer than systemd's stop timeout or watchdog interval.

pub mod notify;
mod signals;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::definitions::Definitions;
use crate::engine::Engine;
use crate::engine::events::LogSink;
use crate::links::Links;
use crate::mail::Mailer;
use crate::store::Store;
pub use signals::{Signal, Signals};

/// The engine in force; replaced whole on reload so a tick never sees half
/// a reload. HTTP handlers read it too.
pub type Current = Arc<RwLock<Arc<Engine>>>;

pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t - chrono::TimeDelta::nanoseconds(t.timestamp_subsec_nanos().into())
}

pub fn engine(defs: Definitions, store: Arc<dyn Store>, mailer: Arc<dyn Mailer>, links: Links) -> Engine {
    let concurrency = defs.config.mail.pool_size as usize;
    Engine::new(Arc::new(defs), store, mailer, links, Arc::new(LogSink)).with_concurrency(concurrency)
}

pub fn current(engine: &Current) -> Arc<Engine> {
    engine.read().map(|e| e.clone()).unwrap_or_else(|p| p.into_inner().clone())
}

/// The tick loop, until a stop signal.
pub async fn run(engine: Current, mut signals: Signals, reload: impl Fn() -> Option<Engine>) {
    loop {
        let e = current(&engine);
        let started = std::time::Instant::now();
        if let Err(err) = e.tick(now()).await {
            tracing::error!(error = %err, "Tick failed; retrying at the next tick.");
        }
        crate::telemetry::tick_seconds(started.elapsed().as_secs_f64());
        notify::watchdog();
        // Wake at the tick, or sooner when a sweep, step or digest falls
        // due before it: fire times come from the engine, in each zone.
        let tick = e.defs().config.tick.to_std().unwrap_or(Duration::from_secs(15));
        let t = now();
        let next = e.next_wakeup(t).await.ok().flatten().and_then(|n| (n - t).to_std().ok());
        let wait = next.map_or(tick, |n| n.min(tick));
        let wait = notify::watchdog_interval().map_or(wait, |w| wait.min(w));
        match signals.next(wait).await {
            None => {}
            Some(Signal::Reload) => match reload() {
                Some(new) => {
                    let (added, removed, changed) = diff(e.defs(), new.defs());
                    tracing::info!(
                        ?added,
                        ?removed,
                        ?changed,
                        campaigns = new.defs().campaigns.len(),
                        "Definitions reloaded."
                    );
                    if let Ok(mut w) = engine.write() {
                        *w = Arc::new(new);
                    }
                    notify::reloaded();
                }
                None => tracing::error!("Reload failed; the previous definitions keep running."),
            },
            Some(Signal::Stop) => {
                notify::stopping();
                e.stop();
                tracing::info!("Stopping.");
                return;
            }
        }
    }
}

/// Keep this replica's claims alive while it works: renewed at a third of
/// the lease, from a task of its own, so a long batch or sweep never loses
/// its claims to a slow tick. Only a dead (or hung, then restarted by the
/// watchdog) process lets them expire.
pub async fn heartbeat(store: Arc<dyn Store>, lease: Duration) {
    let mut every = tokio::time::interval((lease / 3).max(Duration::from_millis(200)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = store.renew_claims().await {
            tracing::warn!(error = %e, "Could not renew claims; retrying.");
        }
    }
}

/// Campaign ids added, removed and changed between two loads; active
/// enrolments of a changed campaign carry on, matched by step id.
fn diff(old: &Definitions, new: &Definitions) -> (Vec<String>, Vec<String>, Vec<String>) {
    let text = |d: &Definitions, id: &str| d.campaign(id).map(|c| format!("{c:?}"));
    let ids = |d: &Definitions| d.campaigns.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let added = ids(new).into_iter().filter(|id| old.campaign(id).is_none()).collect();
    let removed = ids(old).into_iter().filter(|id| new.campaign(id).is_none()).collect();
    let changed =
        ids(new).into_iter().filter(|id| old.campaign(id).is_some() && text(old, id) != text(new, id)).collect();
    (added, removed, changed)
}
