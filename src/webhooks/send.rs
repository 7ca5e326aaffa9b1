//! The sender: a supervised task of the daemon that, about every second,
//! makes each webhook's deliveries from the outbox and POSTs the due ones,
//! the heads of their streams (so one lead's events arrive in the order
//! they happened), several streams at once. A 2xx delivers; anything else
//! is tried again after a growing, jittered wait until `give_up_after`
//! (and at once when the receiver answers again), then the delivery is dead (`webhooks replay` sends it again); a 410 Gone
//! disables the webhook until a replay.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use super::post::post;
use super::sign::headers;
use crate::config::Webhook;
use crate::daemon::{Current, current, now};
use crate::store::{Store, Taken};

/// Deliveries taken per webhook per round, all sent at once: the most
/// requests one receiver gets from one replica at a time.
const ROUND: i64 = 16;

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

/// The sender task, until `stop`.
pub async fn run(engine: Current, stop: CancellationToken) {
    let mut secrets: HashMap<String, Vec<u8>> = HashMap::new();
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
        let mut busy = false;
        for hook in &hooks {
            match round(e.store().as_ref(), hook, &mut secrets, now()).await {
                Ok(n) => busy |= n > 0,
                Err(err) => {
                    tracing::warn!(webhook = hook.name, error = %err, "Webhook deliveries not made; trying again.")
                }
            }
        }
        let pause = if busy { Duration::from_millis(10) } else { Duration::from_secs(1) };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One round for one webhook at `now`: deliveries made, due ones sent;
/// how many were sent.
pub async fn round(
    store: &dyn Store,
    hook: &Webhook,
    secrets: &mut HashMap<String, Vec<u8>>,
    now: DateTime<Utc>,
) -> Result<usize, crate::store::StoreError> {
    store.fan_out(&hook.name, &hook.events, now).await?;
    if store.webhook_disabled(&hook.name).await? {
        return Ok(0);
    }
    let until = now + crate::store::webhooks::lease(hook.timeout);
    let taken = store.take_due(&hook.name, now, until, ROUND).await?;
    if taken.is_empty() {
        return Ok(0);
    }
    let secret = match &hook.secret_file {
        Some(path) if !secrets.contains_key(&hook.name) => match std::fs::read_to_string(path) {
            Ok(s) => {
                secrets.insert(hook.name.clone(), s.trim().as_bytes().to_vec());
                secrets.get(&hook.name).cloned()
            }
            Err(err) => {
                tracing::error!(webhook = hook.name, file = %path.display(), error = %err, "Webhook secret unreadable; nothing sent.");
                return Ok(0);
            }
        },
        Some(_) => secrets.get(&hook.name).cloned(),
        None => None,
    };
    let sends = taken.iter().map(|t| send(hook, secret.as_deref(), t));
    let answers = futures::future::join_all(sends).await;
    let n = taken.len();
    let answered = answers.iter().any(|a| a.as_ref().is_ok_and(|c| (200..300).contains(c)));
    for (t, answer) in taken.into_iter().zip(answers) {
        settle(store, hook, &t, answer, now).await?;
    }
    // The receiver answers: what backed off during its outage goes now,
    // not hours later.
    if answered {
        store.receiver_back(&hook.name, now, until).await?;
    }
    Ok(n)
}

async fn send(hook: &Webhook, secret: Option<&[u8]>, t: &Taken) -> Result<u16, String> {
    let body = t.body.clone().into_bytes();
    let headers = headers(&t.uid, &t.kind, secret, Utc::now().timestamp(), &body);
    let limit = hook.timeout.to_std().unwrap_or(Duration::from_secs(10));
    post(&hook.url, &headers, body, limit).await
}

/// Record one answer: delivered, disabled (410), retried or dead.
async fn settle(
    store: &dyn Store,
    hook: &Webhook,
    t: &Taken,
    answer: Result<u16, String>,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    let error = match answer {
        Ok(code) if (200..300).contains(&code) => {
            store.delivered(t.id, crate::daemon::now()).await?;
            crate::telemetry::webhook_result(&hook.name, "delivered");
            return Ok(());
        }
        Ok(410) => {
            let why = "410 Gone: the receiver asked for no more";
            tracing::warn!(webhook = hook.name, "Webhook answered 410 Gone: disabled until `nurture webhooks replay`.");
            store.disable_webhook(&hook.name, why, now).await?;
            store.failed(t.id, why, Some(now)).await?;
            crate::telemetry::webhook_result(&hook.name, "gone");
            return Ok(());
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
        crate::telemetry::webhook_result(&hook.name, "dead");
    } else {
        tracing::info!(
            webhook = hook.name,
            event = t.uid,
            error,
            attempts = t.attempts + 1,
            "Webhook event not delivered; tried again later."
        );
        store.failed(t.id, &error, Some(next)).await?;
        crate::telemetry::webhook_result(&hook.name, "failed");
    }
    Ok(())
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
