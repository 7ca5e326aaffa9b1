//! `mail.rate_per_second`: a provider's throttle, kept by spacing sends
//! evenly (1/rate apart) across all concurrent senders of this process.
//! The engine waits for its turn ([`Mailer::pace`]) before it records an
//! attempt, then sends at once.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Mailer, Outgoing, SendError};

pub struct Throttled<M> {
    inner: M,
    gap: Duration,
    /// When the next send may start.
    next: Mutex<Instant>,
}

impl<M> Throttled<M> {
    pub fn new(inner: M, rate_per_second: u32) -> Throttled<M> {
        let gap = Duration::from_secs(1) / rate_per_second.max(1);
        Throttled { inner, gap, next: Mutex::new(Instant::now()) }
    }
}

#[async_trait]
impl<M: Mailer> Mailer for Throttled<M> {
    /// Callers queue on the lock and each waits for its turn holding it,
    /// so one that gives up (the engine stops) leaves no turn reserved.
    async fn pace(&self) {
        let mut next = self.next.lock().await;
        tokio::time::sleep_until(*next).await;
        *next = (*next).max(Instant::now()) + self.gap;
    }

    async fn available(&self) -> bool {
        self.inner.available().await
    }

    fn is_up(&self) -> bool {
        self.inner.is_up()
    }

    async fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        self.inner.send(m).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Discard;

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
    async fn a_turn_given_up_is_not_lost() {
        let t = std::sync::Arc::new(Throttled::new(Discard, 1));
        t.pace().await;
        let start = Instant::now();
        // Ten callers wait and give up before their turn comes.
        for _ in 0..10 {
            let _ = tokio::time::timeout(Duration::from_millis(50), t.pace()).await;
        }
        t.pace().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1), "the next turn is one gap after the last one taken");
    }

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_by_the_rate() {
        let t = Throttled::new(Discard, 4);
        let start = Instant::now();
        for _ in 0..9 {
            t.pace().await;
            t.send(&message()).await.unwrap();
        }
        // The first goes at once, the next eight 250 ms apart.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
