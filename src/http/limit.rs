//! Rate limits for the public link routes (`/u/…`, `/t/…`): anyone on the
//! internet can call them. The token's signature is checked first (no
//! database read): a forged token is limited per client address (a few a
//! second; it gets 404 or 429 and never reaches the database), a signed
//! one has a generous bucket of its own per client. So a flood of forged
//! tokens, from one client or many, never refuses a real unsubscribe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client::{Clients, PerClient};

/// Forged tokens per second per client, and the burst: a person with a
/// link their mail client mangled tries a few times; a flood is refused.
pub const FORGED_RATE: f64 = 1.0;
pub const FORGED_BURST: f64 = 10.0;
/// Signed links per second per client, and the burst: far above what a
/// person (or a mail scanner opening every link of a message) produces.
pub const SIGNED_RATE: f64 = 20.0;
pub const SIGNED_BURST: f64 = 100.0;

#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Bucket {
        Bucket { tokens: burst, at: now, rate, burst }
    }

    /// Whether the bucket would be full at `now` (its client has been
    /// quiet long enough to be forgotten).
    pub fn full(&self, now: Instant) -> bool {
        self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * self.rate >= self.burst
    }

    /// Take one token at `now`, if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The link routes' limits, with what they need to check a token.
#[derive(Clone)]
pub struct Links {
    pub engine: crate::daemon::Current,
    pub clients: Clients,
    forged: Arc<PerClient>,
    signed: Arc<PerClient>,
}

impl Links {
    pub fn new(engine: crate::daemon::Current, clients: Clients) -> Links {
        Links {
            engine,
            clients,
            forged: Arc::new(PerClient::new(FORGED_RATE, FORGED_BURST)),
            signed: Arc::new(PerClient::new(SIGNED_RATE, SIGNED_BURST)),
        }
    }
}

/// Whether the path's token (`/u/TOKEN`, `/t/TOKEN/done`, `/c/TOKEN`,
/// `/a/TOKEN`) is signed.
fn signed(links: &crate::links::Links, path: &str) -> bool {
    if let Some(token) = path.strip_prefix("/c/") {
        return links.click(token).is_some();
    }
    if let Some(token) = path.strip_prefix("/a/") {
        return links.answer(token).is_some();
    }
    if let Some(token) = path.strip_prefix("/u/") {
        return links.unsubscribe_lead(token).is_some();
    }
    let token = path.strip_prefix("/t/").and_then(|t| t.strip_suffix("/done"));
    token.is_some_and(|t| links.done_task(t).is_some())
}

pub async fn limit(
    State(state): State<Links>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = state.clients.address(peer, request.headers());
    let good = signed(crate::daemon::current(&state.engine).links(), request.uri().path());
    let bucket = if good { &state.signed } else { &state.forged };
    if !bucket.take(client, Instant::now()) {
        let rate = if good { SIGNED_RATE } else { FORGED_RATE };
        let retry = Duration::from_secs_f64(1.0 / rate).as_secs().max(1).to_string();
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", retry)], "Too many requests; try again shortly.\n")
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, 5.0, t0);
        assert_eq!((0..8).filter(|_| b.take(t0)).count(), 5, "the burst");
        assert!(!b.take(t0 + Duration::from_millis(50)), "half a token is not enough");
        assert!(b.take(t0 + Duration::from_millis(100)), "one token a tenth of a second later");
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.take(later)).count(), 5, "refill stops at the burst");
    }
}
