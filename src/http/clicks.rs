//! The click writer: `/c/` answers its redirect at once and queues the
//! click here; one supervised task writes the queue in batches, one
//! transaction (one commit) each, so a burst of clicks costs a few commits,
//! not one per click. A database away keeps the batch and retries; a stop
//! (SIGTERM) writes what is queued before the process ends. Only a crash
//! loses the clicks queued and not yet written (at most a batch's worth of
//! milliseconds).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::daemon::{Current, current};
use crate::store::Click;

/// Clicks waiting at most; beyond it a click is written on its own.
const QUEUE: usize = 65_536;
/// Clicks per transaction at most.
const BATCH: usize = 1_000;

/// The handler's side: where a click goes once its redirect is answered.
#[derive(Clone)]
pub struct Clicks {
    tx: mpsc::Sender<Click>,
}

/// The writer's side, shared by the writer task and its restarts.
pub type Queue = Arc<Mutex<mpsc::Receiver<Click>>>;

pub fn queue() -> (Clicks, Queue) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (Clicks { tx }, Arc::new(Mutex::new(rx)))
}

impl Clicks {
    /// Queue the click; a full queue (the database far behind) writes it
    /// in a task of its own instead of dropping it.
    pub fn add(&self, engine: &Current, click: Click) {
        if let Err(mpsc::error::TrySendError::Full(click) | mpsc::error::TrySendError::Closed(click)) =
            self.tx.try_send(click)
        {
            let engine = engine.clone();
            tokio::spawn(async move { write(&engine, vec![click]).await });
        }
    }
}

/// The writer task: batches until `stop`, then what is left.
pub async fn writer(engine: Current, queue: Queue, stop: CancellationToken) {
    let mut rx = queue.lock().await;
    loop {
        let first = tokio::select! {
            c = rx.recv() => c,
            _ = stop.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        write(&engine, batch).await;
    }
    // Stopping: what is queued is written now (the stop's grace bounds it).
    let mut rest = Vec::new();
    while let Ok(c) = rx.try_recv() {
        rest.push(c);
    }
    if !rest.is_empty() {
        write(&engine, rest).await;
    }
}

/// One batch, retried while the database is away (for up to a minute: a
/// click is worth less than the memory of an unbounded wait).
async fn write(engine: &Current, batch: Vec<Click>) {
    let mut wait = Duration::from_millis(100);
    let mut tries = 0;
    loop {
        let e = current(engine);
        let window = e.defs().config.tracking.scanner_window;
        match e.store().record_clicks(&batch, window).await {
            Ok(results) => {
                let mut woke = false;
                for (lead_id, machine) in results.into_iter().flatten() {
                    crate::telemetry::click(machine);
                    tracing::debug!(lead_id, machine, "Click recorded.");
                    woke = true;
                }
                // Their readiness checks fall due when the burst is over.
                if woke {
                    e.wake();
                }
                return;
            }
            Err(err) if tries < 10 => {
                tracing::warn!(error = %err, clicks = batch.len(), "Clicks not recorded yet; trying again.");
                tries += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
            Err(err) => {
                tracing::error!(error = %err, clicks = batch.len(), "Clicks could not be recorded; they are lost.");
                return;
            }
        }
    }
}
