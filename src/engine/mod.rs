//! The engine: which leads enter which campaign, when each step is due, and
//! what happens when it is. Time is always an argument: `run` passes the
//! wall clock, `simulate` and tests a virtual one, so the same code decides
//! in both.
//!
//! One [`Engine::tick`] at `now` runs, in order: enrolment sweeps whose
//! cron fired since the last one, every step due at or before `now`, the
//! readiness checks due (and hand-offs, escalations), and rep digests whose
//! cron fired.

pub mod abtests;
mod digest;
mod due;
pub use digest::DIGEST_TASKS;
pub mod erase;
pub mod events;
mod explain;
pub use explain::{CampaignState, Explanation};
pub use inbound::Applied;
mod group;
mod guard;
mod handoff;
mod history;
pub use history::{Entry, LeadView};
mod inbound;
mod leads;
pub use leads::Answered;
mod step;
mod sweep;
mod task;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::definitions::Definitions;
use crate::links::Links;
use crate::mail::{Mailer, Outgoing, SendError};
use crate::store::{Due, Finish, Kind, Store, StoreError};
pub use events::{Event, Sink};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A group write (see `group.rs`) failed for every step in it.
    #[error("database: {0}")]
    Write(String),
    /// The engine stopped while the step waited for a send slot: it was
    /// not attempted and stays due.
    #[error("stopped before the step was attempted")]
    Stopped,
    /// A change to a lead was saved, but the exits and enrolment that
    /// follow it were not (the next step and sweep apply them).
    #[error("saved, but the exits and enrolment that follow failed ({0}); the next step and sweep apply them")]
    Saved(String),
    #[error("unknown lead {0}")]
    UnknownLead(String),
    #[error("unknown status {status:?}; known: {known}")]
    UnknownStatus { status: String, known: String },
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// How long an outcome write is retried before the tick gives up on it
/// (the step is then found `sending` later and recorded `uncertain`).
const RECORD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// What a step has the group writer record: its attempt before it acts
/// (answered with the delivery id and attempt number, or `None`: attempted
/// before, or paused), or its outcome after.
enum Write {
    Begin(Due, Kind, DateTime<Utc>),
    /// `true` when the step held a send slot (an email attempted).
    Finish(Finish, bool),
}

impl group::Item for Write {
    fn slot(&self) -> group::Slot {
        match self {
            Write::Begin(_, Kind::Email, _) => group::Slot::Takes,
            Write::Finish(_, true) => group::Slot::Frees,
            _ => group::Slot::Neutral,
        }
    }
}

pub struct Engine {
    defs: Arc<Definitions>,
    store: Arc<dyn Store>,
    mailer: Arc<dyn Mailer>,
    links: Links,
    sink: Arc<dyn Sink>,
    /// Last known time of each sweep and digest timer. The database holds
    /// the truth; this only spares a query per timer per tick when no cron
    /// has fired since (the common case at a 15 s tick).
    timers: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Set by [`Engine::stop`] (SIGTERM, or a reload replacing this
    /// engine): no more work is claimed, each lead's step in hand is
    /// finished and recorded, a step waiting for the mail rate gives up
    /// its turn before it is attempted, and the tick returns.
    stop: tokio::sync::watch::Sender<bool>,
    /// Counts what the engine got done (steps recorded, events, sweep
    /// pages): the daemon pings systemd's watchdog only while it moves, so
    /// a tick stuck on a dead database call is still caught.
    progress: AtomicU64,
    /// Steps waiting for their mail-rate turn: a deliberate wait, alive as
    /// the wait between ticks is (at one message a second the counter
    /// above can stand still for a whole watchdog period while all is
    /// well).
    pacing: AtomicUsize,
    /// Pauses in force (see `guard.rs`), read at each tick and batch.
    paused: Mutex<guard::Paused>,
    /// A/B tests' winners and looks (see `abtests.rs`), read at each tick.
    tests: Mutex<abtests::Tests>,
    /// Leads served at once (`mail.pool_size` under `run`; 1 elsewhere, so
    /// `simulate` prints a stable order). One lead's steps never run
    /// concurrently: the caps must see each send before the next.
    concurrency: usize,
    /// Attempts and outcomes of concurrent steps, written in groups, one
    /// transaction each, and the send slots, `concurrency` of them: an
    /// email's attempt is recorded only into a free slot, and its outcome
    /// frees it, so at most this many steps are ever recorded `sending`
    /// without an outcome (the bound on `uncertain` after a crash or an
    /// outage), while more leads than that are worked on at once (their
    /// other database waits, exits and caps, overlap). The outcome one
    /// slot records and the attempt the next one makes share a commit.
    writes: group::Group<Write, Option<(i64, i64)>>,
    /// Rung when work may have fallen due outside a tick (a lead posted to
    /// the API, a status set): the daemon's wait for the next tick ends at
    /// once, so a new lead's first step goes out now, not a tick later.
    /// Shared by the engines a reload makes (see [`Engine::with_wakeup`]).
    wakeup: Arc<tokio::sync::Notify>,
}

impl Engine {
    pub fn new(
        defs: Arc<Definitions>,
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        links: Links,
        sink: Arc<dyn Sink>,
    ) -> Engine {
        Engine {
            defs,
            store,
            mailer,
            links,
            sink,
            timers: Mutex::new(HashMap::new()),
            stop: tokio::sync::watch::Sender::new(false),
            progress: AtomicU64::new(0),
            pacing: AtomicUsize::new(0),
            paused: Mutex::new(guard::Paused::default()),
            tests: Mutex::new(abtests::Tests::default()),
            concurrency: 1,
            writes: group::Group::new(1, Option::is_some),
            wakeup: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Ring `wakeup` (the daemon's, kept across reloads) instead of an
    /// engine's own.
    pub fn with_wakeup(mut self, wakeup: Arc<tokio::sync::Notify>) -> Engine {
        self.wakeup = wakeup;
        self
    }

    /// Work may be due now: the daemon ticks at once (a ring while nobody
    /// waits is kept for the next wait).
    pub fn wake(&self) {
        self.wakeup.notify_one();
    }

    /// Resolves when [`Engine::wake`] rings.
    pub async fn woken(&self) {
        self.wakeup.notified().await
    }

    pub fn with_concurrency(mut self, n: usize) -> Engine {
        self.concurrency = n.max(1);
        self.writes = group::Group::new(self.concurrency, Option::is_some);
        self
    }

    /// The definitions this engine runs (replaced whole on reload).
    pub fn defs(&self) -> &Arc<Definitions> {
        &self.defs
    }

    /// The database, for reading. Every change to a lead goes through
    /// the methods of `leads.rs`, so its consequences always follow.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Stop claiming work; the steps in hand are finished and recorded.
    pub fn stop(&self) {
        self.stop.send_replace(true);
        // Attempts waiting for a send slot are not made.
        self.writes.close();
    }

    fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once [`Engine::stop`] was called.
    async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Whether the mail server answered last time (`/healthz`).
    pub fn mail_up(&self) -> bool {
        self.mailer.is_up()
    }

    /// How much the engine has got done so far (see `progress`).
    pub fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    fn moved(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a step is waiting for its mail-rate turn (see `pacing`).
    pub fn pacing(&self) -> bool {
        self.pacing.load(Ordering::Relaxed) > 0
    }

    /// The mail rate's next turn, counted in `pacing` while it is awaited
    /// (also when the wait is dropped: the engine stopped).
    async fn turn(&self) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.pacing.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.pacing);
        self.mailer.pace().await;
    }

    /// Wait for the mail rate's next turn (`mail.rate_per_second`) before
    /// a step is attempted; false if the engine stopped meanwhile, and the
    /// step is then left due, not attempted.
    async fn paced(&self) -> bool {
        tokio::select! {
            _ = self.turn() => !self.is_stopping(),
            _ = self.stopped() => false,
        }
    }

    /// Whether `cron` fired after the timer's last time; a timer never set
    /// starts now ("a new database has missed none").
    /// Returns the timer's (last time, note) when it fired.
    async fn fired(
        &self,
        timer: &str,
        last_fire: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<(DateTime<Utc>, String)>> {
        let cached = self.timers.lock().ok().and_then(|t| t.get(timer).copied());
        if let (Some(last), Some(fire)) = (cached, last_fire)
            && fire <= last
        {
            return Ok(None);
        }
        let Some((last, note)) = self.store.timer(timer).await? else {
            // A new timer starts counting now; created only if absent, so
            // a replica starting beside another never resets its claim.
            self.store.create_timer(timer, now, "").await?;
            return Ok(None);
        };
        self.remember(timer, last);
        if last_fire.is_none_or(|f| f <= last) {
            return Ok(None);
        }
        // Replicas: the one that claims this fire runs it; set_timer ends
        // the claim. A replica that dies mid-sweep leaves a claim whose
        // lease runs out, and the sweep is run again from the same point.
        if !self.store.claim_timer(timer, last).await? {
            return Ok(None);
        }
        Ok(Some((last, note)))
    }

    async fn set_timer(&self, timer: &str, at: DateTime<Utc>, note: &str) -> Result<()> {
        self.store.set_timer(timer, at, note).await?;
        self.remember(timer, at);
        Ok(())
    }

    fn remember(&self, timer: &str, at: DateTime<Utc>) {
        if let Ok(mut t) = self.timers.lock() {
            t.insert(timer.to_string(), at);
        }
    }

    /// Sweeps, due steps, digests; after a stop, what is left waits for
    /// the next tick (or the next process).
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<()> {
        self.refresh_pauses().await?;
        self.refresh_tests().await?;
        self.sweeps(now).await?;
        if !self.is_stopping() {
            self.run_due(now).await?;
        }
        if !self.is_stopping() {
            self.look_at_tests(now).await?;
        }
        if !self.is_stopping() {
            self.readiness(now).await?;
        }
        if !self.is_stopping() {
            self.digests(now).await?;
        }
        Ok(())
    }

    /// Ids of campaigns that may act: disabled and paused ones hold their
    /// enrolments.
    fn enabled(&self) -> Vec<String> {
        self.acting().map(|c| c.id.clone()).collect()
    }

    /// Tick at `start` and then at every instant something is due, up to
    /// (not including) `end`: `simulate` and `forecast`'s virtual clock.
    pub async fn run_virtual(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<()> {
        let mut t = start;
        self.tick(t).await?;
        while let Some(next) = self.next_wakeup(t).await? {
            if next >= end {
                break;
            }
            t = next;
            self.tick(t).await?;
        }
        Ok(())
    }

    /// The next instant after `now` at which a tick has something to do.
    pub async fn next_wakeup(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let mut next =
            self.store.next_due_at(&self.enabled()).await?.map(|t| t.max(now + chrono::TimeDelta::seconds(1)));
        let mut consider = |t: Option<DateTime<Utc>>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for c in self.acting() {
            consider(c.enrol.cron.next_after(now, c.enrol.timezone));
        }
        for zone in self.digest_zones() {
            consider(self.defs.config.digest.next_after(now, zone));
        }
        consider(self.store.next_check().await?.map(|t| t.max(now + chrono::TimeDelta::seconds(1))));
        consider(self.next_look().map(|t| t.max(now + chrono::TimeDelta::seconds(1))));
        if self.defs.config.handoff.escalate_to.is_some() {
            let at = self.store.next_escalation(self.defs.config.handoff.escalate_after).await?;
            consider(at.map(|t| t.max(now + chrono::TimeDelta::seconds(1))));
        }
        Ok(next)
    }

    fn emit(&self, e: Event) {
        self.moved();
        self.sink.emit(e);
    }

    /// Record an attempt before acting, grouped with concurrent steps'
    /// attempts and outcomes (see `group.rs`). An email's attempt waits for
    /// a send slot; the engine stopping meanwhile is
    /// [`EngineError::Stopped`] (nothing was recorded).
    async fn begin(&self, d: &Due, kind: Kind, now: DateTime<Utc>) -> Result<Option<(i64, i64)>> {
        match self.writes.call(Write::Begin(d.clone(), kind, now), |w| self.write(w)).await {
            Ok(answer) => Ok(answer),
            Err(group::Refused::Stopped) => Err(EngineError::Stopped),
            Err(e) => Err(EngineError::Write(e.to_string())),
        }
    }

    /// One group's writes in one transaction; answers in the order queued.
    async fn write(&self, items: Vec<Write>) -> std::result::Result<Vec<Option<(i64, i64)>>, String> {
        let is_begin: Vec<bool> = items.iter().map(|w| matches!(w, Write::Begin(..))).collect();
        let (mut finishes, mut begins) = (Vec::new(), Vec::new());
        for w in items {
            match w {
                Write::Finish(f, _) => finishes.push(f),
                Write::Begin(d, k, now) => begins.push((d, k, now)),
            }
        }
        let mut attempts = self.store.record_steps(&finishes, &begins).await.map_err(|e| e.to_string())?.into_iter();
        Ok(is_begin.into_iter().map(|b| if b { attempts.next().flatten() } else { None }).collect())
    }

    /// Record an outcome and move the enrolment on, grouped likewise.
    ///
    /// An outcome is known once the transport answered; losing it would
    /// turn a sent message into `uncertain`. So a failed write (the
    /// database is restarting, the network flapped) is tried again, with
    /// backoff, for up to `RECORD_PATIENCE`, holding the step's send slot
    /// (`holds`: it held one) until it is written or given up on.
    async fn record(&self, f: Finish, holds: bool) -> Result<()> {
        let started = std::time::Instant::now();
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match self.writes.call(Write::Finish(f.clone(), holds), |w| self.write(w)).await {
                Ok(_) => {
                    self.moved();
                    return Ok(());
                }
                Err(e) if started.elapsed() < RECORD_PATIENCE => {
                    let (campaign, step, lead_id) = (&f.due.campaign, &f.due.step_id, f.due.lead_id);
                    tracing::warn!(campaign, step, lead_id, error = %e, "Cannot record an outcome; trying again.");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(2));
                }
                Err(e) => {
                    if holds {
                        self.writes.release();
                    }
                    return Err(EngineError::Write(e.to_string()));
                }
            }
        }
    }

    /// Hand a message to the transport, timed: the duration goes into the
    /// log event and the send-duration metric. The mail rate is kept by
    /// the caller ([`Engine::paced`], or `pace` for rep emails).
    async fn send(&self, m: &Outgoing) -> (std::result::Result<(), SendError>, std::time::Duration) {
        let started = std::time::Instant::now();
        let result = self.mailer.send(m).await;
        let elapsed = started.elapsed();
        crate::telemetry::send_seconds(elapsed.as_secs_f64());
        (result, elapsed)
    }
}
