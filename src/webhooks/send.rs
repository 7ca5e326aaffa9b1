//! The sender: a supervised task of the daemon that, about every second
//! (at once again while there is work), makes each webhook's deliveries
//! from the outbox and POSTs the due ones, the heads of their streams (so
//! one lead's events arrive in the order they happened), many streams at
//! once on kept connections. A 2xx delivers; anything else is tried again
//! after a growing, jittered wait until `give_up_after` (and at once when
//! the receiver answers again), then the delivery is dead (`webhooks
//! replay` sends it again); a 410 Gone disables the webhook until a replay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::post::Client;
use super::sign::headers;
use crate::config::Webhook;
use crate::daemon::{Current, current, now};
use crate::store::{Store, StoreError, Taken};

/// Deliveries taken per webhook per round: heads of that many streams.
const ROUND: i64 = 256;

/// Requests one lane has in flight at a time, and lanes per webhook: the
/// most requests one receiver gets from one replica at once is their
/// product.
const AT_ONCE: usize = 16;
const LANES: usize = 2;

/// The wait before attempt `n + 1` (`n` made): 2^n seconds up to an hour,
/// times a jitter in [0.5, 1.5) so that many failed events do not come
/// back at the same instant.
pub fn backoff(attempts: i64, jitter: f64) -> TimeDelta {
    let base = 2f64.powi(attempts.clamp(0, 12) as i32).min(3600.0);
    TimeDelta::milliseconds((base * (0.5 + jitter.clamp(0.0, 1.0)) * 1000.0) as i64)
}

fn jitter() -> f64 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    f64::from(u16::from_le_bytes(b)) / 65_536.0
}

/// How often the backlog gauges are read (a count over the deliveries).
const GAUGES_EVERY: Duration = Duration::from_secs(10);

/// What the sender keeps between rounds, per webhook: its connections,
/// its secret (read once) and whether its receiver was failing.
#[derive(Default)]
pub struct Sender {
    links: HashMap<String, Link>,
}

struct Link {
    client: Client,
    secret: Option<Vec<u8>>,
    /// A request failed since the last success: the next round takes only
    /// as many as go at once, in one lane (each may wait out the timeout,
    /// all within the lease), and a success pulls the backed-off
    /// deliveries forward.
    troubled: AtomicBool,
    /// The receiver answered 410 in this round: the lanes stop.
    gone: AtomicBool,
}

impl Sender {
    /// `hook`'s link, made when first needed (or made again when a reload
    /// changed its URL); why there is none.
    fn link(&mut self, hook: &Webhook) -> Result<&mut Link, String> {
        let stale = self.links.get(&hook.name).is_none_or(|l| l.client.url() != hook.url);
        if stale {
            let client = Client::new(&hook.url)?;
            let secret = hook.secret_file.as_deref().map(super::sign::read_secret).transpose()?;
            // A new daemon may find deliveries backed off by an earlier one.
            self.links.insert(
                hook.name.clone(),
                Link { client, secret, troubled: AtomicBool::new(true), gone: AtomicBool::new(false) },
            );
        }
        Ok(self.links.get_mut(&hook.name).expect("just made"))
    }
}

/// The sender task, until `stop`.
pub async fn run(engine: Current, stop: CancellationToken) {
    let mut sender = Sender::default();
    let mut gauged = std::time::Instant::now() - GAUGES_EVERY;
    loop {
        let e = current(&engine);
        let hooks = e.defs().config.webhooks.clone();
        if gauged.elapsed() >= GAUGES_EVERY {
            gauged = std::time::Instant::now();
            for hook in &hooks {
                if let Ok(s) = e.store().hook_stats(&hook.name).await {
                    let oldest = s.oldest_pending.map(|t| (now() - t).num_seconds());
                    crate::telemetry::webhook_backlog(&hook.name, s.pending, oldest);
                }
            }
        }
        let busy = match round(e.store().as_ref(), &hooks, &mut sender, now()).await {
            Ok(n) => n > 0,
            Err(err) => {
                tracing::warn!(error = %err, "Webhook deliveries not made; trying again.");
                false
            }
        };
        let pause = if busy { Duration::ZERO } else { Duration::from_secs(1) };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One round at `now`: the events fanned out to `hooks`, then each
/// webhook's due deliveries sent; how many were sent.
pub async fn round(
    store: &dyn Store,
    hooks: &[Webhook],
    sender: &mut Sender,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let routes: Vec<_> = hooks.iter().map(|h| (h.name.as_str(), h.events.as_slice())).collect();
    store.fan_out(&routes, now).await?;
    let mut sent = 0;
    for hook in hooks {
        if store.webhook_disabled(&hook.name).await? {
            continue;
        }
        let link = match sender.link(hook) {
            Ok(link) => link,
            Err(err) => {
                tracing::error!(webhook = hook.name, error = err, "Webhook unusable; nothing sent.");
                continue;
            }
        };
        link.gone.store(false, Ordering::Relaxed);
        let lanes = if link.troubled.load(Ordering::Relaxed) { 1 } else { LANES };
        let lanes = futures::future::try_join_all((0..lanes).map(|_| lane(store, hook, link, now))).await?;
        sent += lanes.iter().sum::<usize>();
    }
    Ok(sent)
}

/// Batches of `hook`'s due deliveries, one after the other, while they
/// deliver, for up to a second; how many were delivered. Lanes run side by
/// side, so that the receiver has requests while a lane is at the
/// database (a stream's next event is due only once its head is settled,
/// so two lanes never hold one stream).
async fn lane(store: &dyn Store, hook: &Webhook, link: &Link, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let began = std::time::Instant::now();
    let mut sent = 0;
    loop {
        let n = send_due(store, hook, link, now).await?;
        sent += n;
        if n == 0 || link.gone.load(Ordering::Relaxed) || began.elapsed() >= Duration::from_secs(1) {
            return Ok(sent);
        }
    }
}

/// One webhook's due deliveries, sent `AT_ONCE` at a time, none started
/// later than its lease allows to finish.
async fn send_due(store: &dyn Store, hook: &Webhook, link: &Link, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let lease = crate::store::webhooks::lease(hook.timeout);
    let limit = if link.troubled.load(Ordering::Relaxed) { AT_ONCE as i64 } else { ROUND };
    let taken = store.take_due(&hook.name, now, now + lease, limit).await?;
    if taken.is_empty() {
        return Ok(0);
    }
    let timeout = hook.timeout.to_std().unwrap_or(Duration::from_secs(10));
    // A request still in flight when the lease ends could cross a retry
    // by another replica: none starts after the lease less its timeout.
    let last_start = std::time::Instant::now() + (lease.to_std().unwrap_or_default().saturating_sub(timeout * 2));
    let mut sends = Vec::with_capacity(taken.len());
    for t in &taken {
        let (uid, kind, body) = (t.uid.clone(), t.kind.clone(), t.body.clone().into_bytes());
        sends.push(async move {
            if std::time::Instant::now() > last_start {
                return None;
            }
            let headers = headers(&uid, &kind, link.secret.as_deref(), Utc::now().timestamp(), &body);
            Some(link.client.post(&headers, body, timeout).await)
        });
    }
    let answers: Vec<_> = futures::stream::iter(sends).buffered(AT_ONCE).collect().await;
    let (mut delivered, mut unsent) = (Vec::new(), Vec::new());
    let mut failed = false;
    for (t, answer) in taken.iter().zip(answers) {
        match answer {
            None => unsent.push(t.id),
            Some(Ok(code)) if (200..300).contains(&code) => delivered.push(t.id),
            Some(answer) => {
                failed = true;
                if settle(store, hook, t, answer, now).await? {
                    link.gone.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    store.delivered(&delivered, crate::daemon::now()).await?;
    crate::telemetry::webhook_results(&hook.name, "delivered", delivered.len());
    store.release(&unsent, now).await?;
    // The receiver answers again: what backed off during its outage goes
    // now, not hours later.
    if link.troubled.swap(failed, Ordering::Relaxed) && !delivered.is_empty() {
        store.receiver_back(&hook.name, now, now + lease).await?;
    }
    Ok(delivered.len())
}

/// Record a failed answer: disabled (410: true), retried or dead.
async fn settle(
    store: &dyn Store,
    hook: &Webhook,
    t: &Taken,
    answer: Result<u16, String>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let error = match answer {
        Ok(410) => {
            let why = "410 Gone: the receiver asked for no more";
            tracing::warn!(webhook = hook.name, "Webhook answered 410 Gone: disabled until `nurture webhooks replay`.");
            store.disable_webhook(&hook.name, why, now).await?;
            store.failed(t.id, why, Some(now)).await?;
            crate::telemetry::webhook_results(&hook.name, "gone", 1);
            return Ok(true);
        }
        Ok(code) => format!("HTTP {code}"),
        Err(e) => e,
    };
    let next = now + backoff(t.attempts, jitter());
    if next - t.event_at > hook.give_up_after {
        tracing::warn!(
            webhook = hook.name,
            event = t.uid,
            error,
            "Webhook event dead: not delivered within give_up_after."
        );
        store.failed(t.id, &error, None).await?;
        crate::telemetry::webhook_results(&hook.name, "dead", 1);
    } else {
        tracing::info!(
            webhook = hook.name,
            event = t.uid,
            error,
            attempts = t.attempts + 1,
            "Webhook event not delivered; tried again later."
        );
        store.failed(t.id, &error, Some(next)).await?;
        crate::telemetry::webhook_results(&hook.name, "failed", 1);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_an_hour_with_jitter() {
        assert_eq!(backoff(0, 0.5), TimeDelta::seconds(1));
        assert_eq!(backoff(3, 0.5), TimeDelta::seconds(8));
        assert_eq!(backoff(3, 0.0), TimeDelta::seconds(4));
        assert_eq!(backoff(30, 0.5), TimeDelta::seconds(3600));
        assert!(backoff(30, 0.99) < TimeDelta::seconds(5400));
    }
}
