//! Per-lead email caps across all campaigns: at most `max` marketing emails
//! in any span of length `per`, and at least `min_gap` between two.

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max: u32,
    pub per: TimeDelta,
    pub min_gap: TimeDelta,
}

impl Caps {
    /// Whether one more email at `x` keeps every cap, given the lead's
    /// other emails `sent` (any order, any time).
    pub fn allows(&self, x: DateTime<Utc>, sent: &[DateTime<Utc>]) -> bool {
        if sent.iter().any(|s| (x - *s).abs() < self.min_gap) {
            return false;
        }
        let max = self.max.max(1) as usize;
        let mut all: Vec<DateTime<Utc>> = sent.iter().copied().filter(|s| (x - *s).abs() < self.per).collect();
        all.push(x);
        all.sort();
        // Any max+1 consecutive emails that include x must span at least
        // `per`; older excesses (a cap lowered later) are not x's fault.
        all.windows(max + 1).filter(|w| w.contains(&x)).all(|w| w[max] - w[0] >= self.per)
    }

    /// The earliest instant at or after `t` that `allows` an email.
    /// The allowed set's left edges are `t` and each `s + min_gap` or
    /// `s + per`, so the answer is the first of those candidates that works;
    /// the last send plus the longer of the two always does.
    pub fn earliest_allowed(&self, t: DateTime<Utc>, sent: &[DateTime<Utc>]) -> DateTime<Utc> {
        let mut candidates: Vec<DateTime<Utc>> =
            sent.iter().flat_map(|s| [*s + self.min_gap, *s + self.per]).filter(|c| *c > t).collect();
        candidates.push(t);
        candidates.sort();
        candidates.dedup();
        candidates
            .into_iter()
            .find(|c| self.allows(*c, sent))
            .unwrap_or_else(|| sent.iter().copied().max().unwrap_or(t) + self.per.max(self.min_gap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(h)
    }

    fn caps() -> Caps {
        Caps { max: 3, per: TimeDelta::days(7), min_gap: TimeDelta::days(1) }
    }

    #[test]
    fn nothing_sent_means_now() {
        assert_eq!(caps().earliest_allowed(at(5), &[]), at(5));
    }

    #[test]
    fn min_gap_pushes_after_the_last_email() {
        assert_eq!(caps().earliest_allowed(at(30), &[at(24)]), at(48));
    }

    #[test]
    fn rolling_window_waits_for_the_oldest_to_age_out() {
        let sent = [at(0), at(24), at(48)];
        assert_eq!(caps().earliest_allowed(at(72), &sent), at(7 * 24));
    }

    #[test]
    fn a_gap_between_future_emails_can_be_used() {
        let c = Caps { max: 10, per: TimeDelta::days(7), min_gap: TimeDelta::hours(2) };
        // Emails at 0h and 10h: 4h is 4h after and 6h before them.
        assert_eq!(c.earliest_allowed(at(4), &[at(0), at(10)]), at(4));
        assert_eq!(c.earliest_allowed(at(9), &[at(0), at(10)]), at(12));
    }
}
