//! `nurture run`: the engine under the wall clock. Ticks every
//! `[schedule] tick`; SIGHUP reloads definitions (keeping the old ones if
//! the new have errors) and they take effect at the next step; SIGTERM or
//! SIGINT stops claiming work, lets the steps in flight finish and be
//! recorded, and exits 0 within 10 s. The systemd watchdog is pinged on a
//! timer of its own, whatever the ticks do: always while the loop waits
//! and after a tick returns; during a tick while the engine moved within
//! the last ping period. Only a tick stuck on a call that does not return
//! starves it.

pub mod notify;
mod signals;
pub mod supervise;

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
pub use supervise::Supervisor;

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

/// How long a stop waits for the steps in flight to finish and be
/// recorded before it abandons them (they were recorded as attempts, so a
/// restart finds them and never sends them twice): within systemd's stop
/// timeout, and the README's promise of an exit within 10 s.
const STOP_GRACE: Duration = Duration::from_secs(8);

/// What ended a tick early.
#[derive(Default)]
struct Pending {
    /// A reload was asked for and loaded: the tick in hand was told to
    /// stop, and this engine takes over when it has.
    engine: Option<Engine>,
    /// SIGTERM or SIGINT: the tick was told to stop by then.
    stop_by: Option<tokio::time::Instant>,
}

/// The tick loop, until a stop signal. Signals are served while a tick
/// runs: a stop or a reload takes effect at each lead's next step, not at
/// the end of a tick that may be draining thousands of them.
/// A tick that panics is recorded in `panics` (task `tick`) and the next
/// tick runs as usual: the tick is its own restart.
pub async fn run(
    engine: Current,
    mut signals: Signals,
    panics: Arc<supervise::Panics>,
    reload: impl Fn() -> Option<Engine>,
) {
    let mut watchdog = Watchdog::new();
    loop {
        let e = current(&engine);
        let started = std::time::Instant::now();
        let mut pending = Pending::default();
        watchdog.tick_began(e.progress());
        {
            // On a worker of the runtime rather than this thread: the sends'
            // replies wake it where the runtime polls the sockets, instead
            // of each waking this thread across cores.
            let ticking = e.clone();
            let mut tick = tokio::spawn(async move { ticking.tick(now()).await });
            let _cancel = Abort(tick.abort_handle());
            let result = loop {
                let stop_by = pending.stop_by;
                tokio::select! {
                    r = &mut tick => break Some(r),
                    _ = sleep_until(stop_by) => break None,
                    signal = signals.recv(), if stop_by.is_none() => match signal {
                        Signal::Stop => {
                            begin_stop(&e);
                            pending.stop_by = Some(tokio::time::Instant::now() + STOP_GRACE);
                        }
                        Signal::Reload => {
                            if let Some(new) = reloaded(&reload) {
                                e.stop();
                                pending.engine = Some(new);
                            }
                        }
                    },
                    _ = watchdog.every() => { watchdog.look(e.progress(), e.pacing()); }
                }
            };
            match result {
                Some(Ok(Err(err))) => tracing::error!(error = %err, "Tick failed; retrying at the next tick."),
                Some(Ok(Ok(()))) => {}
                Some(Err(joined)) => match joined.try_into_panic() {
                    Ok(panic) => panics.record("tick", &supervise::message(&*panic)),
                    Err(_) => tracing::error!("The tick was cancelled; the next tick runs as usual."),
                },
                None => tracing::warn!(
                    grace_s = STOP_GRACE.as_secs(),
                    "Steps still in flight at the stop deadline were left; a restart records them uncertain."
                ),
            }
        }
        crate::telemetry::tick_seconds(started.elapsed().as_secs_f64());
        // A tick that returned, even with an error (a server that is down
        // is a state, retried at the next tick), is a loop that is alive.
        watchdog.ping();
        if pending.stop_by.is_some() {
            return;
        }
        if let Some(new) = pending.engine.take() {
            swap(&engine, &e, new).await;
            continue;
        }
        // Wait for the tick, or less when a sweep, step or digest falls
        // due before it: fire times come from the engine, in each zone.
        // Waiting is alive: the watchdog is pinged all along.
        let tick = e.defs().config.tick.to_std().unwrap_or(Duration::from_secs(15));
        // Bounded: a database that does not answer must not hold the loop
        // (signals, the watchdog's own judgement of the next tick).
        let next = tokio::time::timeout(tick, e.next_wakeup(now())).await.ok().and_then(Result::ok).flatten();
        let wake = tokio::time::Instant::now() + sleep_for(next, tick, Utc::now());
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                // A lead posted to the API (or a status set): its first
                // step may be due now, not a tick from now.
                _ = e.woken() => break,
                signal = signals.recv() => match signal {
                    Signal::Stop => {
                        begin_stop(&e);
                        return;
                    }
                    Signal::Reload => {
                        if let Some(new) = reloaded(&reload) {
                            swap(&engine, &e, new).await;
                            break;
                        }
                    }
                },
                _ = watchdog.every() => watchdog.ping(),
            }
        }
    }
}

/// How long to wait for `next` (or the tick, if sooner), measured from the
/// clock: the engine's `now()` is cut to the whole second, and a wait
/// measured from it overslept by up to a second at every tick, so steps
/// falling due second by second fell behind for good. One already past
/// is not waited for.
fn sleep_for(next: Option<DateTime<Utc>>, tick: Duration, clock: DateTime<Utc>) -> Duration {
    next.map_or(tick, |n| (n - clock).to_std().unwrap_or(Duration::ZERO).min(tick))
}

/// A tick left at the stop deadline ends with the loop, as it did when it
/// ran on the loop's own task.
struct Abort(tokio::task::AbortHandle);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn begin_stop(e: &Engine) {
    notify::stopping();
    e.stop();
    tracing::info!("Stopping.");
}

/// The new definitions, or `None` (logged) when they have errors.
fn reloaded(reload: &impl Fn() -> Option<Engine>) -> Option<Engine> {
    notify::reloading();
    let new = reload();
    if new.is_none() {
        tracing::error!("Reload failed; the previous definitions keep running.");
        notify::reloaded(false);
    }
    new
}

/// Put the reloaded engine in force and say so (log, systemd, and the
/// marker `systemctl reload` waits for), with what each changed campaign's
/// edit does to the enrolments under way (README, *Live edits*).
async fn swap(engine: &Current, old: &Engine, new: Engine) {
    let (added, removed, changed) = diff(old.defs(), new.defs());
    crate::telemetry::zero(added.iter().map(String::as_str));
    tracing::info!(?added, ?removed, ?changed, campaigns = new.defs().campaigns.len(), "Definitions reloaded.");
    for id in &changed {
        let (Some(before), Some(after)) = (old.defs().campaign(id), new.defs().campaign(id)) else { continue };
        match new.store().active_by_step(id).await {
            Ok(waiting) => {
                let i = crate::campaign::edit::impact(Some(before), after, &waiting);
                let ending: i64 = i.ending.iter().map(|(_, n)| n).sum();
                let skipping: i64 = i.skipping.iter().map(|(_, n, _)| n).sum();
                let kept: i64 = i.kept_due.iter().map(|(_, n)| n).sum();
                tracing::info!(
                    campaign = id,
                    active = i.active,
                    ending,
                    skipping,
                    kept_due = kept,
                    "Campaign changed: {}",
                    i.summary()
                );
            }
            Err(e) => tracing::warn!(campaign = id, error = %e, "Could not count the enrolments the edit touches."),
        }
    }
    if let Ok(mut w) = engine.write() {
        *w = Arc::new(new);
    }
    notify::reloaded(true);
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// systemd's watchdog, pinged at half its timeout on a timer of its own:
/// while waiting for the next tick and after a tick returns, always;
/// during a tick, while the engine moved (a step recorded, or a wait for
/// the mail rate's turn) within the last ping period. A tick stuck on a
/// call that never returns stops the pings one period after it last
/// moved, and systemd restarts the process a timeout later.
struct Watchdog {
    every: Option<Duration>,
    /// When to consider the next ping, however often ticks come and go.
    next: tokio::time::Instant,
    /// The engine's progress count at the last look, and when it last
    /// changed (or the tick began).
    seen: u64,
    moved: tokio::time::Instant,
}

impl Watchdog {
    fn new() -> Watchdog {
        let every = notify::watchdog_interval();
        let now = tokio::time::Instant::now();
        Watchdog { every, next: now + every.unwrap_or_default(), seen: 0, moved: now }
    }

    /// Resolves at the next ping time; never without a watchdog.
    async fn every(&self) {
        match self.every {
            Some(_) => tokio::time::sleep_until(self.next).await,
            None => std::future::pending().await,
        }
    }

    fn ping(&mut self) {
        self.next = tokio::time::Instant::now() + self.every.unwrap_or_default();
        notify::watchdog();
    }

    /// A tick starts: its deadline to move runs from now.
    fn tick_began(&mut self, progress: u64) {
        self.seen = progress;
        self.moved = tokio::time::Instant::now();
    }

    /// During a tick: ping if the engine moved since the last look, is
    /// waiting for the mail rate (a deliberate wait, not a hang), or last
    /// moved (or began) less than a ping period ago; say whether it did.
    /// Either way, look again at the next ping time.
    fn look(&mut self, progress: u64, pacing: bool) -> bool {
        let now = tokio::time::Instant::now();
        if progress != self.seen || pacing {
            self.seen = progress;
            self.moved = now;
        }
        if now.duration_since(self.moved) < self.every.unwrap_or_default() {
            self.ping();
            true
        } else {
            self.next = now + self.every.unwrap_or_default();
            false
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_for_the_next_due_step_is_measured_from_the_clock() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let tick = Duration::from_secs(15);
        // A tick ran at 12:00:00 (cut from 12:00:00.9); the next step is
        // due at 12:00:01: a tenth of a second away, not a whole second.
        let clock = at("2026-03-02T12:00:00.900Z");
        assert_eq!(sleep_for(Some(at("2026-03-02T12:00:01Z")), tick, clock), Duration::from_millis(100));
        assert_eq!(sleep_for(Some(at("2026-03-02T11:59:59Z")), tick, clock), Duration::ZERO, "overdue: at once");
        assert_eq!(sleep_for(Some(at("2026-03-02T13:00:00Z")), tick, clock), tick, "never past the tick");
        assert_eq!(sleep_for(None, tick, clock), tick);
    }

    #[tokio::test(start_paused = true)]
    async fn a_tick_feeds_the_watchdog_while_it_moves_or_waits_for_the_mail_rate_never_while_stuck() {
        let every = Duration::from_secs(30);
        let mut w = Watchdog::new();
        w.every = Some(every);
        w.tick_began(0);
        tokio::time::advance(every / 2).await;
        assert!(w.look(0, false), "a tick that began half a period ago is not stuck yet");
        tokio::time::advance(every).await;
        assert!(!w.look(0, false), "nothing done for a whole period: stuck");
        assert!(w.look(1, false), "a step recorded");
        tokio::time::advance(every + Duration::from_secs(1)).await;
        assert!(!w.look(1, false), "nothing since the last look, a period ago");
        assert!(w.look(1, true), "waiting for the mail rate's turn is alive");
        tokio::time::advance(every * 3).await;
        w.tick_began(1);
        assert!(w.look(1, false), "a new tick starts a new deadline");
    }
}
