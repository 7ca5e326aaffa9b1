//! The daemon's long-lived tasks (mailbox, HTTP, housekeeping, forecast,
//! claim renewal) under one supervisor: one shutdown token handed to every
//! task, one joined task set. A task's panic is caught (never lost with a
//! dropped `JoinHandle`), logged with its message, counted
//! (`nurture_task_panics_total{task}`), shown in `/healthz`, and the task
//! restarted after a backoff that doubles up to a minute.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Every task the daemon may supervise, named as in the metric's label.
pub const TASKS: [&str; 8] = ["tick", "mailbox", "http", "housekeeping", "forecast", "claims", "clicks", "webhooks"];

/// The first wait before a panicked task is started again, and the most.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Panics seen per task: how many, and the last one's message, for
/// `/healthz`.
#[derive(Default)]
pub struct Panics(Mutex<BTreeMap<&'static str, (u64, String)>>);

impl Panics {
    /// Record a panic of `task` (logged and counted here too).
    pub fn record(&self, task: &'static str, message: &str) {
        tracing::error!(task, panic = message, "A task panicked; it is started again.");
        crate::telemetry::task_panic(task);
        if let Ok(mut m) = self.0.lock() {
            let e = m.entry(task).or_default();
            e.0 += 1;
            e.1 = message.to_string();
        }
    }

    /// `tasks: ok`, or each task that panicked with its count and last
    /// message.
    pub fn health(&self) -> String {
        let m = self.0.lock().map(|m| m.clone()).unwrap_or_default();
        if m.is_empty() {
            return "tasks: ok".into();
        }
        let parts: Vec<String> = m
            .iter()
            .map(|(task, (n, last))| format!("{task} panicked {n} time(s), restarted (last: {last})"))
            .collect();
        format!("tasks: {}", parts.join("; "))
    }
}

/// A panic's payload as text.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Run `work` to its end, or to its panic (as the panic's message).
pub async fn caught<T>(work: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(work).catch_unwind().await.map_err(|p| message(&*p))
}

/// The token and the task set; cloned handles share both.
#[derive(Clone, Default)]
pub struct Supervisor {
    token: CancellationToken,
    tracker: TaskTracker,
    panics: Arc<Panics>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    pub fn panics(&self) -> Arc<Panics> {
        self.panics.clone()
    }

    /// Run `make(token)`'s task until it returns or the token is
    /// cancelled; a panic is recorded and a fresh one made after the
    /// backoff.
    pub fn spawn<F, Fut>(&self, task: &'static str, mut make: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (token, panics) = (self.token.clone(), self.panics.clone());
        self.tracker.spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let run = make(token.clone());
                let Err(panic) = caught(run).await else { return };
                panics.record(task, &panic);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = token.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }

    /// Cancel every task and wait up to `grace` for them all to end;
    /// whether they did.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_recorded_and_restarted_until_it_ends() {
        let s = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        s.spawn("mailbox", move |_| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    panic!("poison number {n}");
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two panics, two restarts, then it ended");
        let health = s.panics().health();
        assert!(health.contains("mailbox panicked 2 time(s)"), "{health}");
        assert!(health.contains("poison number 1"), "{health}");
        assert!(s.shutdown(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_cancels_every_task_and_joins_them() {
        let s = Supervisor::new();
        s.spawn("claims", |token| async move { token.cancelled().await });
        s.spawn("forecast", |token| async move { token.cancelled().await });
        assert_eq!(s.panics().health(), "tasks: ok");
        assert!(s.shutdown(Duration::from_secs(1)).await, "both tasks ended on the token");
    }
}
