//! Send windows: weekdays, a daily `HH:MM-HH:MM` span and closed dates, read
//! as wall-clock time in one zone. The zone is an argument, so one window
//! serves every lead of a campaign whose window follows the lead's zone.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

const DAY_SECONDS: u32 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Open weekdays, indexed by `Weekday::num_days_from_monday`.
    pub days: [bool; 7],
    /// Daily opening, seconds from local midnight: start inclusive, end exclusive.
    pub start: u32,
    pub end: u32,
    /// Closed all day, in the window's zone.
    pub skip_dates: BTreeSet<NaiveDate>,
}

impl Default for Window {
    fn default() -> Self {
        Window::always()
    }
}

impl Window {
    pub fn always() -> Window {
        Window { days: [true; 7], start: 0, end: DAY_SECONDS, skip_dates: BTreeSet::new() }
    }

    /// Convenience for tests and defaults; loaders parse each part on its own
    /// so that errors point at the right line.
    pub fn parse_parts(days: &[&str], hours: Option<&str>, skip: &[&str]) -> Result<Window, String> {
        let mut w = Window::always();
        w.days = [false; 7];
        for d in days {
            w.days[parse_day(d)?.num_days_from_monday() as usize] = true;
        }
        if let Some(h) = hours {
            (w.start, w.end) = parse_hours(h)?;
        }
        for s in skip {
            w.skip_dates.insert(parse_date(s)?);
        }
        Ok(w)
    }

    /// Open all day, every day.
    pub fn is_always(&self) -> bool {
        self.days == [true; 7] && self.start == 0 && self.end == DAY_SECONDS && self.skip_dates.is_empty()
    }

    fn day_open(&self, date: NaiveDate) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize] && !self.skip_dates.contains(&date)
    }

    pub fn is_open(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        let local = t.with_timezone(&tz);
        let secs = local.time().num_seconds_from_midnight();
        self.day_open(local.date_naive()) && secs >= self.start && secs < self.end
    }

    /// The first instant at or after `t` when the window is open, or `None`
    /// if it stays closed for more than a year (e.g. every weekday skipped).
    pub fn next_open(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if self.is_open(t, tz) {
            return Some(t);
        }
        let first = t.with_timezone(&tz).date_naive();
        for date in first.iter_days().take(400) {
            if !self.day_open(date) {
                continue;
            }
            let opening = first_instant_at_or_after(date_time(date, self.start), tz);
            let candidate = opening.max(t);
            if self.is_open(candidate, tz) {
                return Some(candidate);
            }
        }
        None
    }
}

impl Window {
    /// The instant `d` of open time after `t`: the window's open hours are
    /// counted, closed ones skipped ("due in 1 h of the rep's working
    /// hours"). `None` if it stays closed for more than a year.
    pub fn after_open(&self, t: DateTime<Utc>, tz: Tz, d: TimeDelta) -> Option<DateTime<Utc>> {
        let mut left = d;
        let mut at = self.next_open(t, tz)?;
        // Each turn uses one open span; 400 days of spans at most.
        for _ in 0..800 {
            let date = at.with_timezone(&tz).date_naive();
            let closes = first_instant_at_or_after(date_time(date, self.end), tz);
            let span = closes - at;
            if left <= span {
                return Some(at + left);
            }
            left -= span;
            at = self.next_open(closes, tz)?;
        }
        None
    }
}

fn date_time(date: NaiveDate, secs: u32) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).expect("midnight exists") + TimeDelta::seconds(secs.into())
}

/// The first instant whose wall-clock time in `tz` is at or after `local`:
/// the time itself, the earlier of two in a fall-back overlap, or the end of
/// a spring-forward gap that swallowed it.
pub fn first_instant_at_or_after(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
        LocalResult::None => {
            // Offsets lie within ±15 h, so the answer is within this range,
            // and wall-clock time only moves forward across a gap.
            let mut lo = local.and_utc() - TimeDelta::hours(15);
            let mut hi = local.and_utc() + TimeDelta::hours(15);
            while hi - lo > TimeDelta::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if mid.with_timezone(&tz).naive_local() >= local {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi.with_timezone(&Utc).with_nanosecond(0).unwrap_or(hi)
        }
    }
}

pub fn parse_day(s: &str) -> Result<Weekday, String> {
    s.parse::<Weekday>().map_err(|_| format!("unknown weekday {s:?}; write Mon, Tue, Wed, Thu, Fri, Sat or Sun"))
}

/// `HH:MM-HH:MM`, start inclusive, end exclusive; `24:00` ends at midnight.
pub fn parse_hours(s: &str) -> Result<(u32, u32), String> {
    let fail = || format!("invalid hours {s:?}; write \"HH:MM-HH:MM\", e.g. \"09:00-17:00\"");
    let (a, b) = s.split_once('-').ok_or_else(fail)?;
    let clock = |p: &str| -> Option<u32> {
        let (h, m) = p.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 3600 + m * 60)
    };
    let (start, end) = (clock(a).ok_or_else(fail)?, clock(b).ok_or_else(fail)?);
    if start >= end {
        return Err(format!(
            "hours {s:?} end before they start; windows run within one day (use \"00:00-24:00\" for all day)"
        ));
    }
    Ok((start, end))
}

pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("invalid date {s:?}; write YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn office() -> Window {
        Window::parse_parts(&["Mon", "Tue", "Wed", "Thu", "Fri"], Some("09:00-17:00"), &["2026-12-25"]).unwrap()
    }

    #[test]
    fn inside_the_window_is_unchanged() {
        let t = utc("2026-03-04T10:15:00Z");
        assert_eq!(office().next_open(t, Tz::UTC), Some(t));
    }

    #[test]
    fn end_is_exclusive_and_weekend_moves_to_monday() {
        assert_eq!(office().next_open(utc("2026-03-06T17:00:00Z"), Tz::UTC), Some(utc("2026-03-09T09:00:00Z")));
    }

    #[test]
    fn holidays_close_the_whole_day() {
        // Friday 2026-12-25 is skipped; the next opening is Monday the 28th.
        assert_eq!(office().next_open(utc("2026-12-24T18:00:00Z"), Tz::UTC), Some(utc("2026-12-28T09:00:00Z")));
    }

    #[test]
    fn lead_zone_shifts_the_opening() {
        let tokyo = chrono_tz::Asia::Tokyo;
        // 2026-03-02 08:00 UTC is 17:00 Monday in Tokyo: closed until Tuesday 09:00 JST.
        assert_eq!(office().next_open(utc("2026-03-02T08:00:00Z"), tokyo), Some(utc("2026-03-03T00:00:00Z")));
    }

    #[test]
    fn opening_inside_a_spring_forward_gap_moves_to_the_gap_end() {
        let w = Window::parse_parts(&["Sun"], Some("02:30-05:00"), &[]).unwrap();
        let ny = chrono_tz::America::New_York;
        // 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00 UTC).
        assert_eq!(w.next_open(utc("2026-03-08T05:00:00Z"), ny), Some(utc("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn opening_in_a_fall_back_overlap_takes_the_first() {
        let w = Window::parse_parts(&["Sun"], Some("01:30-05:00"), &[]).unwrap();
        let ny = chrono_tz::America::New_York;
        // 2026-11-01 01:30 happens twice: first at 05:30 UTC (EDT).
        assert_eq!(w.next_open(utc("2026-11-01T00:00:00Z"), ny), Some(utc("2026-11-01T05:30:00Z")));
    }

    #[test]
    fn open_time_is_counted_across_closings() {
        let w = office();
        let h = TimeDelta::hours;
        // Within the day; from the evening, the next morning; Friday 16:30 + 1 h: Monday 09:30.
        assert_eq!(w.after_open(utc("2026-03-04T10:00:00Z"), Tz::UTC, h(1)), Some(utc("2026-03-04T11:00:00Z")));
        assert_eq!(w.after_open(utc("2026-03-04T20:00:00Z"), Tz::UTC, h(1)), Some(utc("2026-03-05T10:00:00Z")));
        assert_eq!(w.after_open(utc("2026-03-06T16:30:00Z"), Tz::UTC, h(1)), Some(utc("2026-03-09T09:30:00Z")));
        assert_eq!(w.after_open(utc("2026-03-04T09:00:00Z"), Tz::UTC, h(16)), Some(utc("2026-03-05T17:00:00Z")));
        assert_eq!(
            Window::always().after_open(utc("2026-03-04T20:00:00Z"), Tz::UTC, h(1)),
            Some(utc("2026-03-04T21:00:00Z"))
        );
    }

    #[test]
    fn window_that_never_opens_is_none() {
        let w = Window::parse_parts(&[], None, &[]).unwrap();
        assert_eq!(w.next_open(utc("2026-03-02T08:00:00Z"), Tz::UTC), None);
    }

    #[test]
    fn hours_parse_and_reject() {
        assert_eq!(parse_hours("09:00-17:30"), Ok((9 * 3600, 17 * 3600 + 1800)));
        assert_eq!(parse_hours("00:00-24:00"), Ok((0, 86_400)));
        for bad in ["9-17", "09:00", "17:00-09:00", "09:00-25:00", "09:60-10:00", "ab:cd-ef:gh"] {
            assert!(parse_hours(bad).is_err(), "{bad:?}");
        }
    }
}
