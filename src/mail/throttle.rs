//! `mail.rate_per_second`: a provider's throttle, kept by spacing sends
//! evenly (1/rate apart) across all concurrent senders of this process.
//! The engine waits for its turn ([`Mailer::pace`]) before it records an
//! attempt, then sends at once.
//!
//! A token bucket holding a tenth of a second's sends (one at least): a
//! turn taken late (the database or the server held the sender a moment)
//! is made up by the turns after it instead of lost. Spacing alone lost
//! every such moment, so the rate kept fell below the one set, and steps
//! falling due at that rate piled up behind it (lateness grew without
//! bound). In any second at most `rate` plus that tenth go out.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Mailer, Outgoing, SendError};

pub struct Throttled<M> {
    inner: M,
    gap: Duration,
    /// How far behind the clock the schedule may fall and still be made
    /// up: the bucket's size, in time.
    slack: Duration,
    /// When the next send may start, on the schedule.
    next: Mutex<Instant>,
}

impl<M> Throttled<M> {
    pub fn new(inner: M, rate_per_second: u32) -> Throttled<M> {
        let rate = rate_per_second.max(1);
        let gap = Duration::from_secs(1) / rate;
        let slack = gap * (rate / 10).max(1);
        Throttled { inner, gap, slack, next: Mutex::new(Instant::now()) }
    }
}

#[async_trait]
impl<M: Mailer> Mailer for Throttled<M> {
    /// Callers queue on the lock and each waits for its turn holding it,
    /// so one that gives up (the engine stops) leaves no turn reserved.
    async fn pace(&self) {
        let mut next = self.next.lock().await;
        tokio::time::sleep_until(*next).await;
        let now = Instant::now();
        *next = (*next).max(now.checked_sub(self.slack).unwrap_or(now)) + self.gap;
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
    async fn a_turn_taken_late_is_made_up_within_the_bucket() {
        let t = Throttled::new(Discard, 100);
        let start = Instant::now();
        t.pace().await;
        // The sender is held 50 ms (five turns) after its first turn.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..15 {
            t.pace().await;
        }
        // Sixteen turns at 100/s take 150 ms on the schedule: the five
        // missed were made up (spacing alone would have taken 200 ms).
        assert_eq!(start.elapsed(), Duration::from_millis(150));
        // A hold longer than the bucket (10 turns) is made up only in part.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = Instant::now();
        for _ in 0..20 {
            t.pace().await;
        }
        // Ten turns were banked: the first eleven go at once, nine follow.
        assert_eq!(held.elapsed(), Duration::from_millis(90));
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
