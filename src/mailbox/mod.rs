//! The IMAP mailbox source (`[inbound] imap_url`): each new message of the
//! folder goes through the same classifier as `nurture inbound`; machine
//! mail about a lead then moves to `processed_folder`, a person's reply
//! stays where people read it, flagged `$NurtureHandled` (never `\Seen`:
//! the rep has not read it yet). One replica reads at a time. A server
//! that is down or refuses the login is a state (logged, `/healthz`,
//! `nurture_imap_up`), retried with backoff, never a reason to exit. A
//! message whose handling panics or fails the same way (not a database
//! that is away) three times is moved to `quarantine_folder` for a
//! person, logged with its key, and reading goes on with the next.

pub mod connect;
mod fault;
mod position;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::Inbound;
use crate::daemon::{Current, current, now};
use crate::inbound::Kind;
use connect::{Error, Session, Target, within};
pub use position::Position;

/// The keyword set on a person's reply once it is handled.
pub const HANDLED: &str = "$NurtureHandled";

/// Messages handled between two records of the position: a crash repeats
/// at most this many fetches (never their effects: each is marked).
const BATCH: usize = 25;

/// Failed attempts at one message before it is set aside.
pub const QUARANTINE_AFTER: u32 = 3;

/// Retries after a failure wait 1 s, 2 s, 4 s … up to `poll` (at most
/// five minutes), so a server back after an outage is read again soon.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The mailbox's state for `/healthz`: `None` until the first attempt;
/// with the messages set aside since start (how many, the last one's key).
#[derive(Default)]
pub struct Health {
    state: Mutex<Option<String>>,
    quarantined: Mutex<(u64, String)>,
}

impl Health {
    fn set(&self, state: String) {
        if let Ok(mut s) = self.state.lock() {
            *s = Some(state);
        }
    }

    fn quarantined(&self, key: &str, folder: &str) {
        if let Ok(mut q) = self.quarantined.lock() {
            q.0 += 1;
            q.1 = format!("{key} in {folder}");
        }
    }

    pub fn state(&self) -> Option<String> {
        let state = self.state.lock().ok().and_then(|s| s.clone())?;
        match self.quarantined.lock().map(|q| q.clone()) {
            Ok((0, _)) | Err(_) => Some(state),
            Ok((n, last)) => Some(format!("{state}; {n} message(s) quarantined (last: {last})")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Imap(#[from] Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// This message could not be handled (a panic, or an error that would
    /// come again): counted against it, set aside after three.
    #[error("message {key}: {why}")]
    Message { key: String, why: String },
}

/// Whether an engine error is the message's (it would fail the same way
/// again) rather than the database's being away for a while.
fn the_messages(e: &crate::engine::EngineError) -> bool {
    use crate::engine::EngineError as E;
    matches!(
        e,
        E::Store(crate::store::StoreError::Db(sqlx::Error::Database(_))) | E::UnknownLead(_) | E::UnknownStatus { .. }
    )
}

/// Read the configured mailbox until `stop` turns true. A message being
/// handled when it does is finished first.
pub async fn read(engine: Current, health: Arc<Health>, stop: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let cfg = current(&engine).defs().config.inbound.clone();
        let Some(url) = cfg.imap_url.clone() else { return };
        let target = Target::of(&url);
        let result = session(&engine, &target, &cfg, &health, &stop, &mut backoff).await;
        crate::telemetry::imap_up(false);
        let cap = cfg.poll.to_std().unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF);
        match result {
            Ok(()) => return,
            // The message's fault, counted against it: the mailbox is fine.
            Err(Failure::Message { .. }) => {}
            Err(e) => {
                tracing::warn!(mailbox = target.name(), error = %e, retry_s = backoff.as_secs(), "Inbound mailbox unavailable; retrying.");
                health.set(format!("unavailable ({e}); retrying"));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(cap.max(Duration::from_secs(1)));
    }
}

/// One connection: read what is new, wait (IDLE, else `poll`), again;
/// `Ok` when stopped.
async fn session(
    engine: &Current,
    t: &Target,
    cfg: &Inbound,
    health: &Health,
    stop: &CancellationToken,
    backoff: &mut Duration,
) -> Result<(), Failure> {
    let password = cfg.password_file.clone().unwrap_or_default();
    let mut s = connect::connect(t, &password, cfg.ca_file.as_deref()).await?;
    let server = format!("{}:{}", t.host, t.port);
    let imap = |e| Error::Imap(server.clone(), e);
    let caps = within(&server, s.capabilities()).await?.map_err(imap)?;
    let (idle, moves) = (caps.has_str("IDLE"), caps.has_str("MOVE"));
    let processed = folder(&mut s, &server, &cfg.processed_folder).await?;
    let quarantine = folder(&mut s, &server, &cfg.quarantine_folder).await?;
    let validity = within(&server, s.select(&t.folder)).await?.map_err(imap)?.uid_validity.unwrap_or(0);
    crate::telemetry::imap_up(true);
    health.set("ok".into());
    *backoff = Duration::from_secs(1);
    tracing::info!(mailbox = t.name(), idle, processed, "Reading the inbound mailbox.");
    let wait = cfg.poll.to_std().unwrap_or(Duration::from_secs(60));
    loop {
        let mailbox =
            Mailbox { session: &mut s, server: &server, processed: &processed, quarantine: &quarantine, moves, health };
        mailbox.read_new(engine, &format!("imap:{}", t.name()), validity, stop).await?;
        if stop.is_cancelled() {
            break;
        }
        if idle {
            let mut h = s.idle();
            within(&server, h.init()).await?.map_err(imap)?;
            let stopping = {
                let (news, _interrupt) = h.wait_with_timeout(wait);
                tokio::select! {
                    r = news => match r.map_err(imap)? {
                        // Our interrupt is still held: the stream ended.
                        IdleResponse::ManualInterrupt => {
                            return Err(imap(async_imap::error::Error::ConnectionLost).into());
                        }
                        IdleResponse::Timeout | IdleResponse::NewData(_) => false,
                    },
                    _ = stop.cancelled() => true,
                }
            };
            s = within(&server, h.done()).await?.map_err(imap)?;
            if stopping {
                break;
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => break,
            }
        }
    }
    let _ = within(&server, s.logout()).await;
    Ok(())
}

/// A folder's name (processed, quarantine) with the server's hierarchy
/// delimiter for `/`, created when missing.
async fn folder(s: &mut Session, server: &str, configured: &str) -> Result<String, Error> {
    let imap = |e| Error::Imap(server.to_string(), e);
    let names: Vec<_> = within(server, async { s.list(Some(""), Some("")).await?.try_collect::<Vec<_>>().await })
        .await?
        .map_err(imap)?;
    let delimiter = names.first().and_then(|n| n.delimiter().map(str::to_string)).unwrap_or_else(|| "/".into());
    let name = configured.replace('/', &delimiter);
    let found: Vec<_> = within(server, async { s.list(Some(""), Some(&name)).await?.try_collect::<Vec<_>>().await })
        .await?
        .map_err(imap)?;
    if found.is_empty() {
        within(server, s.create(&name)).await?.map_err(imap)?;
        tracing::info!(folder = name, "Created the processed folder.");
    }
    Ok(name)
}

struct Mailbox<'a> {
    session: &'a mut Session,
    server: &'a str,
    processed: &'a str,
    quarantine: &'a str,
    moves: bool,
    health: &'a Health,
}

impl Mailbox<'_> {
    fn imap(&self, e: async_imap::error::Error) -> Error {
        Error::Imap(self.server.to_string(), e)
    }

    /// Handle every message after the stored position, a batch at a time,
    /// recording the position after each batch; none if another replica
    /// holds the reading.
    async fn read_new(
        mut self,
        engine: &Current,
        timer: &str,
        validity: u32,
        stop: &CancellationToken,
    ) -> Result<(), Failure> {
        loop {
            let store = current(engine).store().clone();
            let (last, note) = store.timer_or_start(timer).await?;
            let mut pos = Position::in_folder(Position::parse(&note), validity);
            let query = format!("UID {}:*", pos.uid.saturating_add(1));
            let found = within(self.server, self.session.uid_search(&query)).await?.map_err(|e| self.imap(e))?;
            let uids = pos.next(found, BATCH);
            if uids.is_empty() || !store.claim_timer(timer, last).await? {
                return Ok(());
            }
            for &uid in &uids {
                if stop.is_cancelled() {
                    break;
                }
                match self.handle(engine, uid).await {
                    Ok(()) => pos.past(uid),
                    Err(Failure::Message { key, why }) => {
                        pos.tries += 1;
                        tracing::warn!(uid, key, tries = pos.tries, error = why, "Inbound message failed.");
                        if pos.tries < QUARANTINE_AFTER {
                            // Counted before the retry, so a restart counts on.
                            let at = crate::store::timers::after(last, now());
                            store.set_timer(timer, at, &pos.note()).await?;
                            return Err(Failure::Message { key, why });
                        }
                        self.file(&uid.to_string(), self.quarantine).await?;
                        crate::telemetry::quarantined();
                        self.health.quarantined(&key, self.quarantine);
                        tracing::error!(
                            uid,
                            key,
                            folder = self.quarantine,
                            error = why,
                            "Inbound message set aside after {QUARANTINE_AFTER} failed attempts; a person should look at it."
                        );
                        pos.past(uid);
                    }
                    Err(other) => return Err(other),
                }
            }
            store.set_timer(timer, crate::store::timers::after(last, now()), &pos.note()).await?;
            if uids.len() < BATCH || stop.is_cancelled() {
                return Ok(());
            }
        }
    }

    /// Classify and apply one message, then file it.
    async fn handle(&mut self, engine: &Current, uid: u32) -> Result<(), Failure> {
        let set = uid.to_string();
        let fetched: Vec<_> =
            within(self.server, async { self.session.uid_fetch(&set, "BODY.PEEK[]").await?.try_collect().await })
                .await?
                .map_err(|e| self.imap(e))?;
        // Gone meanwhile (moved or deleted by someone): nothing to handle.
        let Some(raw) = fetched.iter().find_map(|f| f.body()) else { return Ok(()) };
        let e = current(engine);
        let applied = match crate::daemon::supervise::caught(async {
            fault::inject(raw);
            e.inbound(raw, now()).await
        })
        .await
        {
            Ok(Ok(applied)) => applied,
            Ok(Err(err)) if the_messages(&err) => {
                return Err(Failure::Message { key: key_of(raw), why: err.to_string() });
            }
            Ok(Err(err)) => return Err(err.into()),
            Err(panic) => {
                crate::telemetry::task_panic("mailbox");
                return Err(Failure::Message { key: key_of(raw), why: format!("panicked: {panic}") });
            }
        };
        let to = match (&applied.lead, applied.kind) {
            (None, _) => None,
            (Some(_), Kind::Reply) => {
                let flag = format!("+FLAGS.SILENT ({HANDLED})");
                let stored: Result<Vec<_>, _> =
                    within(self.server, async { self.session.uid_store(&set, &flag).await?.try_collect().await })
                        .await?;
                stored.map_err(|e| self.imap(e))?;
                None
            }
            (Some(_), _) => Some(self.processed.to_string()),
        };
        if let Some(folder) = to {
            self.file(&set, &folder).await?;
        }
        tracing::debug!(uid, kind = applied.kind.as_str(), lead = applied.lead, "Inbound message handled.");
        Ok(())
    }

    /// Move a message: MOVE (RFC 6851) where the server has it, else copy,
    /// mark deleted and expunge.
    async fn file(&mut self, set: &str, folder: &str) -> Result<(), Error> {
        let server = self.server;
        if self.moves {
            return within(server, self.session.uid_mv(set, folder)).await?.map_err(|e| self.imap(e));
        }
        within(server, self.session.uid_copy(set, folder)).await?.map_err(|e| self.imap(e))?;
        let deleted: Result<Vec<_>, _> = within(server, async {
            self.session.uid_store(set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect().await
        })
        .await?;
        deleted.map_err(|e| self.imap(e))?;
        let expunged: Result<Vec<_>, _> =
            within(server, async { self.session.expunge().await?.try_collect().await }).await?;
        expunged.map(|_| ()).map_err(|e| self.imap(e))
    }
}

/// A message's key for the log: its Message-ID, else a hash of its bytes
/// (whatever the bytes: the classifier may be what failed).
fn key_of(raw: &[u8]) -> String {
    std::panic::catch_unwind(|| crate::inbound::classify(raw, now()).key)
        .unwrap_or_else(|_| crate::inbound::hash_key(raw))
}
