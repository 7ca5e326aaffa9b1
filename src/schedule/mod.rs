//! Schedule math: pure functions of an instant, never of the wall clock.
//! The engine passes the real `now`; tests and `simulate` pass a virtual one.
//!
//! - [`cron`]: the next enrolment sweep or digest time in a zone.
//! - [`window`]: the next instant a send window is open (DST-correct).
//! - [`caps`]: the earliest instant the per-lead email caps allow.

pub mod caps;
pub mod cron;
pub mod window;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use caps::Caps;
pub use cron::CronSpec;
pub use window::Window;

/// The earliest instant at or after `due` that is inside `window` (in `tz`)
/// and that the caps allow, given the lead's earlier marketing emails.
/// `None` when the window never opens (every day closed for a year).
pub fn email_time(
    due: DateTime<Utc>,
    window: &Window,
    tz: Tz,
    caps: &Caps,
    sent: &[DateTime<Utc>],
) -> Option<DateTime<Utc>> {
    let mut t = due;
    // Caps only push forward and stay satisfied once met (all `sent` are in
    // the past of any candidate), so this settles in two rounds; the bound
    // is a guard, not a tuning knob.
    for _ in 0..8 {
        let allowed = caps.earliest_allowed(t, sent);
        let open = window.next_open(allowed, tz)?;
        if open == t {
            return Some(t);
        }
        t = open;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn email_pushed_by_caps_lands_inside_the_window() {
        let window = Window::parse_parts(&["Mon", "Tue", "Wed", "Thu", "Fri"], Some("09:00-17:00"), &[]).unwrap();
        let caps = Caps { max: 3, per: TimeDelta::days(7), min_gap: TimeDelta::days(1) };
        // Friday 16:00 send; the gap pushes to Saturday 16:00, the window to Monday 09:00.
        let sent = [utc("2026-03-06T16:00:00Z")];
        let got = email_time(utc("2026-03-06T16:30:00Z"), &window, Tz::UTC, &caps, &sent);
        assert_eq!(got, Some(utc("2026-03-09T09:00:00Z")));
    }

    #[test]
    fn window_then_cap_then_window_again() {
        let window = Window::parse_parts(&["Mon"], Some("09:00-10:00"), &[]).unwrap();
        let caps = Caps { max: 1, per: TimeDelta::days(7), min_gap: TimeDelta::zero() };
        let sent = [utc("2026-03-02T09:30:00Z")];
        // Next Monday 09:00 is 6d 23h 30m after the last send: too early by 30 min.
        let got = email_time(utc("2026-03-03T00:00:00Z"), &window, Tz::UTC, &caps, &sent);
        assert_eq!(got, Some(utc("2026-03-09T09:30:00Z")));
    }
}
