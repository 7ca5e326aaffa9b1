//! Whether the mail server answers. A server that is down is a state, not
//! an error per lead: the first send that cannot reach it marks it down
//! (one log line), due steps then wait without being attempted (so they
//! spend none of their retries), and the server is probed with a growing
//! wait until it answers again (one more log line). `/healthz` and the
//! `nurture_smtp_up` gauge show the state.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Mailer, Outgoing, SendError};

/// A transport that can be asked whether its server answers.
#[async_trait]
pub trait Probe: Send + Sync {
    async fn probe(&self) -> Result<(), String>;
}

/// First and longest wait between probes of a server that is down.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(30);
/// A probe is given this long: a server that swallows connections must not
/// hold a tick (and the watchdog) for the whole connect timeout.
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

pub struct Watched<M> {
    inner: M,
    up: AtomicBool,
    /// When the next probe may run, and the wait after it if it fails.
    next: Mutex<(Instant, Duration)>,
    /// One probe at a time; the others answer from `up`.
    probing: tokio::sync::Mutex<()>,
}

impl<M: Mailer + Probe> Watched<M> {
    /// `first`: the result of the start-up check (`run` starts either way).
    pub fn new(inner: M, first: Result<(), String>) -> Watched<M> {
        let w = Watched {
            inner,
            up: AtomicBool::new(true),
            next: Mutex::new((Instant::now(), FIRST_WAIT)),
            probing: tokio::sync::Mutex::new(()),
        };
        crate::telemetry::smtp_up(true);
        if let Err(why) = first {
            w.down(&why);
        }
        w
    }

    fn down(&self, why: &str) {
        if self.up.swap(false, Ordering::SeqCst) {
            tracing::warn!(reason = why, "SMTP server unreachable; due steps wait until it answers.");
            crate::telemetry::smtp_up(false);
            if let Ok(mut n) = self.next.lock() {
                *n = (Instant::now() + FIRST_WAIT, FIRST_WAIT);
            }
        }
    }

    fn back(&self) {
        if !self.up.swap(true, Ordering::SeqCst) {
            tracing::info!("SMTP server answers again; sending resumes.");
            crate::telemetry::smtp_up(true);
        }
    }
}

#[async_trait]
impl<M: Mailer + Probe> Mailer for Watched<M> {
    async fn pace(&self) {
        self.inner.pace().await
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    async fn available(&self) -> bool {
        if self.is_up() {
            return true;
        }
        let Ok(_one) = self.probing.try_lock() else { return false };
        let due = self.next.lock().map(|n| n.0 <= Instant::now()).unwrap_or(true);
        if !due || self.is_up() {
            return self.is_up();
        }
        let probed = tokio::time::timeout(PROBE_DEADLINE, self.inner.probe()).await;
        match probed.unwrap_or_else(|_| Err("no answer to the probe".into())) {
            Ok(()) => {
                self.back();
                true
            }
            Err(why) => {
                tracing::debug!(reason = why, "SMTP server still unreachable.");
                if let Ok(mut n) = self.next.lock() {
                    let wait = (n.1 * 2).min(LONGEST_WAIT);
                    *n = (Instant::now() + wait, wait);
                }
                false
            }
        }
    }

    async fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        let result = self.inner.send(m).await;
        match &result {
            Err(SendError::Unreachable(why)) => self.down(why),
            Ok(()) => self.back(),
            Err(_) => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose reachability the test sets.
    struct Switch(AtomicBool);

    #[async_trait]
    impl Mailer for Switch {
        async fn send(&self, _: &Outgoing) -> Result<(), SendError> {
            match self.0.load(Ordering::SeqCst) {
                true => Ok(()),
                false => Err(SendError::Unreachable("connection refused".into())),
            }
        }
    }

    #[async_trait]
    impl Probe for Switch {
        async fn probe(&self) -> Result<(), String> {
            self.0.load(Ordering::SeqCst).then_some(()).ok_or_else(|| "connection refused".into())
        }
    }

    fn message() -> Outgoing {
        Outgoing {
            to: "a@x.test".into(),
            subject: "s".into(),
            text: "t".into(),
            html: None,
            unsubscribe_url: None,
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn down_after_a_refused_send_and_back_after_a_probe_with_growing_waits() {
        let w = Watched::new(Switch(AtomicBool::new(true)), Ok(()));
        assert!(w.available().await && w.send(&message()).await.is_ok());
        w.inner.0.store(false, Ordering::SeqCst);
        assert!(matches!(w.send(&message()).await, Err(SendError::Unreachable(_))));
        assert!(!w.is_up() && !w.available().await, "known down: no probe before the first wait");
        tokio::time::advance(FIRST_WAIT).await;
        assert!(!w.available().await, "probed, still down");
        w.inner.0.store(true, Ordering::SeqCst);
        tokio::time::advance(FIRST_WAIT).await;
        assert!(!w.available().await, "the wait doubled: not probed again yet, though the server is back");
        tokio::time::advance(FIRST_WAIT).await;
        assert!(w.available().await && w.is_up(), "probed after the doubled wait, and up");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_start_up_check_starts_down() {
        let w = Watched::new(Switch(AtomicBool::new(false)), Err("connection refused".into()));
        assert!(!w.is_up() && !w.available().await);
    }
}
