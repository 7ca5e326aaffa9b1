//! Property tests for the schedule math, across zones with DST in both
//! hemispheres, a 30-minute DST shift and a zone without DST. Each result is
//! checked against a brute-force minute-by-minute oracle.

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use nurture::schedule::{Caps, CronSpec, Window, email_time};
use proptest::prelude::*;

const ZONES: [Tz; 6] = [
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::Australia::Sydney,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::America::Santiago,
    chrono_tz::Asia::Kolkata,
];

/// Minute-aligned instants in 2026, weighted towards the DST weeks of the
/// northern (March, October/November) and southern (April, October) zones.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let starts = ["2026-03-05", "2026-03-26", "2026-04-01", "2026-09-30", "2026-10-22", "2026-10-30", "2026-06-10"];
    (0..starts.len(), 0i64..(12 * 24 * 60)).prop_map(move |(i, minutes)| {
        let d = chrono::NaiveDate::parse_from_str(starts[i], "%Y-%m-%d").unwrap();
        d.and_hms_opt(0, 0, 0).unwrap().and_utc() + TimeDelta::minutes(minutes)
    })
}

fn zone() -> impl Strategy<Value = Tz> {
    (0..ZONES.len()).prop_map(|i| ZONES[i])
}

fn window() -> impl Strategy<Value = Window> {
    (prop::array::uniform7(any::<bool>()), 0u32..47, 1u32..48, prop::collection::vec(0i64..30, 0..3)).prop_map(
        |(days, a, b, skips)| {
            let (a, b) = (a.min(b), a.max(b).max(a + 1));
            let mut w = Window::always();
            w.days = days;
            if !w.days.iter().any(|d| *d) {
                w.days[2] = true;
            }
            (w.start, w.end) = (a * 1800, b * 1800);
            let base = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
            w.skip_dates = skips.into_iter().map(|d| base + TimeDelta::days(d)).collect();
            w
        },
    )
}

/// README's rule for a daily `minute hour * * *` in `tz`, as an oracle: it
/// fires at the first instant the local wall clock reads hour:minute, and
/// in a repeated (fall-back) hour only at the first of the two; on a day
/// that time does not exist (spring-forward gap), at the first instant
/// after the gap.
fn fires_at(tz: Tz, hour: u32, minute: u32, m: DateTime<Utc>) -> bool {
    use chrono::TimeZone;
    let local = m.with_timezone(&tz);
    let before = (m - TimeDelta::minutes(1)).with_timezone(&tz);
    let target = local.date_naive().and_hms_opt(hour, minute, 0).unwrap();
    let first_of_its_wall_time = tz.from_local_datetime(&local.naive_local()).earliest() == Some(local);
    ((local.hour(), local.minute()) == (hour, minute) && first_of_its_wall_time)
        || (before.naive_local() < target && local.naive_local() > target && before.day() == local.day())
}

/// Nothing in [from, to) on a minute boundary satisfies `ok`.
fn none_before(from: DateTime<Utc>, to: DateTime<Utc>, ok: impl Fn(DateTime<Utc>) -> bool) -> bool {
    let mut t = from;
    while t < to {
        if ok(t) {
            return false;
        }
        t += TimeDelta::minutes(1);
    }
    true
}

proptest! {
    // Failures found are kept in schedule_props.proptest-regressions, beside
    // this file, and tried first on every run.
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn next_open_is_the_first_open_minute(t in instant(), tz in zone(), w in window()) {
        let r = w.next_open(t, tz).expect("a window with an open weekday opens within a year");
        prop_assert!(r >= t);
        prop_assert!(w.is_open(r, tz), "{r} is not open");
        prop_assert!(none_before(t, r, |m| w.is_open(m, tz)), "an earlier minute was open before {r}");
    }

    #[test]
    fn daily_cron_fires_at_the_first_local_match(t in instant(), tz in zone(), hour in 0u32..24, minute in 0u32..4) {
        let minute = minute * 15;
        let cron = CronSpec::parse(&format!("{minute} {hour} * * *")).unwrap();
        let r = cron.next_after(t, tz).unwrap();
        prop_assert!(r > t);
        let local = r.with_timezone(&tz);
        prop_assert!(fires_at(tz, hour, minute, r), "{r} ({local}) does not match {hour}:{minute}");
        let fires = |m| fires_at(tz, hour, minute, m);
        prop_assert!(none_before(t + TimeDelta::minutes(1), r, fires), "missed a fire before {r}");
    }

    #[test]
    fn caps_give_the_earliest_allowed_minute(
        t in 0i64..2000,
        sent in prop::collection::vec(0i64..2000, 0..6),
        max in 1u32..4,
        per in 1i64..600,
        gap in 0i64..200,
    ) {
        let at = |m: i64| DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(m);
        let caps = Caps { max, per: TimeDelta::minutes(per), min_gap: TimeDelta::minutes(gap) };
        let sent: Vec<_> = sent.into_iter().map(at).collect();
        // Oracle straight from the policy text: no two emails closer than
        // the gap, and no span shorter than `per` holding max+1 of them.
        let allowed = |x: DateTime<Utc>| {
            sent.iter().all(|s| (x - *s).abs() >= caps.min_gap)
                && sent.iter().chain([&x]).all(|w| {
                    let holds_x = *w <= x && x - *w < caps.per;
                    !holds_x || sent.iter().chain([&x]).filter(|e| **e >= *w && **e - *w < caps.per).count() <= max as usize
                })
        };
        let r = caps.earliest_allowed(at(t), &sent);
        prop_assert!(r >= at(t));
        prop_assert!(allowed(r), "{r} breaks the caps");
        prop_assert!(none_before(at(t), r, allowed), "an earlier minute than {r} was allowed");
    }

    #[test]
    fn email_time_is_open_allowed_and_earliest(t in instant(), tz in zone(), w in window(), sent in prop::collection::vec(0i64..(3 * 24 * 60), 0..4)) {
        let caps = Caps { max: 2, per: TimeDelta::days(3), min_gap: TimeDelta::hours(20) };
        let sent: Vec<_> = sent.into_iter().map(|m| t - TimeDelta::minutes(m)).collect();
        let r = email_time(t, &w, tz, &caps, &sent).unwrap();
        prop_assert!(w.is_open(r, tz) && caps.allows(r, &sent));
        prop_assert!(none_before(t, r, |m| w.is_open(m, tz) && caps.allows(m, &sent)));
    }
}

/// The fall-back nights where a daily time happens twice, in the three
/// shapes of DST this file covers: it fires once, at the first instant;
/// found by the property above (Sydney) and mirrored north and half-hourly.
#[test]
fn a_time_in_a_repeated_hour_fires_once_at_its_first_instant() {
    let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let cases = [
        // Sydney 2026-04-05: 03:00 AEDT becomes 02:00 AEST; 02:00 is
        // 15:00Z (AEDT) and again 16:00Z (AEST).
        (chrono_tz::Australia::Sydney, "0 2 * * *", "2026-04-04T14:00:00Z", "2026-04-04T15:00:00Z"),
        (chrono_tz::Australia::Sydney, "0 2 * * *", "2026-04-04T15:15:00Z", "2026-04-05T16:00:00Z"),
        // New York 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 is
        // 05:30Z (EDT) and again 06:30Z (EST).
        (chrono_tz::America::New_York, "30 1 * * *", "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"),
        (chrono_tz::America::New_York, "30 1 * * *", "2026-11-01T05:45:00Z", "2026-11-02T06:30:00Z"),
        // Lord Howe 2026-04-05: 02:00 (+11) becomes 01:30 (+10:30); 01:45
        // is 14:45Z and again 15:15Z.
        (chrono_tz::Australia::Lord_Howe, "45 1 * * *", "2026-04-04T14:00:00Z", "2026-04-04T14:45:00Z"),
        (chrono_tz::Australia::Lord_Howe, "45 1 * * *", "2026-04-04T15:00:00Z", "2026-04-05T15:15:00Z"),
    ];
    for (tz, cron, after, want) in cases {
        let got = CronSpec::parse(cron).unwrap().next_after(utc(after), tz).unwrap();
        assert_eq!(got, utc(want), "{cron} in {tz} after {after}");
    }
}
