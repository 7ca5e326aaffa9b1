//! A rate limit for the public link routes (`/u/…`, `/t/…`): anyone on the
//! internet can call them, and each call reads the database. One token
//! bucket for all callers: behind the TLS proxy every caller has the
//! proxy's address, so a per-address limit would limit nobody or everybody.
//! A flood gets 429 and leaves the daemon's database to the daemon.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Sustained requests per second, and the burst allowed above it: far
/// above what people clicking links produce.
pub const RATE: f64 = 50.0;
pub const BURST: f64 = 200.0;

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

pub type Shared = Arc<Mutex<Bucket>>;

pub fn shared() -> Shared {
    Arc::new(Mutex::new(Bucket::new(RATE, BURST, Instant::now())))
}

pub async fn limit(State(bucket): State<Shared>, request: Request, next: Next) -> Response {
    let allowed = bucket.lock().map(|mut b| b.take(Instant::now())).unwrap_or(true);
    if !allowed {
        let retry = Duration::from_secs_f64(1.0 / RATE).as_secs().max(1).to_string();
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
