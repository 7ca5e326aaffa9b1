//! `mail.rate_per_second`: a provider's throttle, kept by spacing sends
//! evenly (1/rate apart) across all concurrent senders of this process.

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
    async fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        let start = {
            let mut next = self.next.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + self.gap;
            start
        };
        tokio::time::sleep_until(start).await;
        self.inner.send(m).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Discard;

    fn message() -> Outgoing {
        Outgoing { to: "a@x.test".into(), subject: "s".into(), text: "t".into(), html: None, unsubscribe_url: None }
    }

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_by_the_rate() {
        let t = Throttled::new(Discard, 4);
        let start = Instant::now();
        for _ in 0..9 {
            t.send(&message()).await.unwrap();
        }
        // The first goes at once, the next eight 250 ms apart.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
