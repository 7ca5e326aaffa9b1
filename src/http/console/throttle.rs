//! Login limits. Per client address: a token bucket (10 tries, then one
//! every 5 s), so a password guesser is slowed and nobody else is. Per
//! user name: after 5 failures in a row each further failure locks that
//! name for twice as long as the last (1 s, 2 s, … up to 15 min), until a
//! success resets it; guessing one user's password from many addresses is
//! slowed just the same.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::client::PerClient;

pub const ADDRESS_RATE: f64 = 0.2;
pub const ADDRESS_BURST: f64 = 10.0;
/// Failures in a row a user name is allowed before backoff starts.
pub const FREE_FAILURES: u32 = 5;
pub const MAX_LOCK: Duration = Duration::from_secs(900);
/// User names whose failures are kept at most (a guesser may type any).
const MAX_NAMES: usize = 10_000;

pub struct Throttle {
    pub addresses: PerClient,
    /// Per user name: failures in a row, and when the last one was.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle { addresses: PerClient::new(ADDRESS_RATE, ADDRESS_BURST), failures: Mutex::default() }
    }
}

/// How long `failures` failures in a row lock a name, from the last one.
pub fn lock_for(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES) {
        None => Duration::ZERO,
        Some(n) => Duration::from_secs(1u64 << n.min(10)).min(MAX_LOCK),
    }
}

impl Throttle {
    /// How long `name` must still wait before its next try, if at all.
    pub fn locked(&self, name: &str, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let (n, last) = failures.get(name)?;
        let until = *last + lock_for(*n);
        (until > now).then(|| until - now)
    }

    pub fn failed(&self, name: &str, now: Instant) {
        let Ok(mut failures) = self.failures.lock() else { return };
        if failures.len() >= MAX_NAMES && !failures.contains_key(name) {
            failures.retain(|_, (n, last)| *last + lock_for(*n) > now);
            if failures.len() >= MAX_NAMES {
                failures.clear();
            }
        }
        let e = failures.entry(name.to_string()).or_insert((0, now));
        *e = (e.0 + 1, now);
    }

    pub fn succeeded(&self, name: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_locked_after_five_failures_for_twice_as_long_each_time() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.locked("mia", t0), None, "the first five are free");
            t.failed("mia", t0);
        }
        assert_eq!(t.locked("mia", t0), Some(Duration::from_secs(1)));
        t.failed("mia", t0);
        assert_eq!(t.locked("mia", t0), Some(Duration::from_secs(2)));
        assert_eq!(t.locked("mia", t0 + Duration::from_secs(2)), None, "the lock runs out");
        assert_eq!(t.locked("bob", t0), None, "another name is not locked");
        t.succeeded("mia");
        assert_eq!(t.locked("mia", t0), None, "a success resets it");
        assert_eq!(lock_for(40), MAX_LOCK);
    }
}
