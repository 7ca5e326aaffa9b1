//! Durations, cron expressions, send windows and caps, as campaign files
//! write them, one per line of the input. Whatever parses must also behave:
//! a duration reads back from its own spelling, a cron's next time lies
//! ahead, a window's next opening is open, and an email time is inside the
//! window and allowed by the caps.
#![no_main]

use chrono::TimeDelta;
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use nurture::duration;
use nurture::schedule::{Caps, CronSpec, Window, email_time};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or("");
    let (dur, cron, zone, hours, days, skip, caps, sent) =
        (next(), next(), next(), next(), next(), next(), next(), next());
    let now = nurture_fuzz::now();
    let tz: Tz = zone.trim().parse().unwrap_or(Tz::UTC);

    let offset = duration::parse(dur).ok();
    if let Some(d) = offset {
        assert_eq!(duration::parse(&duration::format(d)).ok(), Some(d), "{dur:?} does not read back");
    }
    let t = now + offset.unwrap_or_default();

    if let Ok(c) = CronSpec::parse(cron) {
        if let Some(n) = c.next_after(t, tz) {
            assert!(n > t, "{cron:?}: next {n} not after {t}");
        }
        if let Some(p) = c.last_at_or_before(t, tz) {
            assert!(p <= t, "{cron:?}: last {p} after {t}");
        }
    }

    let list = |s: &str| s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect::<Vec<_>>();
    let (days, skip) = (list(days), list(skip));
    let days: Vec<&str> = days.iter().map(String::as_str).collect();
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    let hours = (!hours.trim().is_empty()).then_some(hours);
    let Ok(window) = Window::parse_parts(&days, hours, &skip) else { return };
    if let Some(o) = window.next_open(t, tz) {
        assert!(o >= t && window.is_open(o, tz), "{window:?} in {tz}: {o} is not an opening after {t}");
    }

    // Caps as "max per min_gap", sent times as durations before `t`.
    let mut c = caps.split_whitespace();
    let (Some(max), Some(per), Some(gap)) = (c.next(), c.next(), c.next()) else { return };
    let (Ok(max), Ok(per), Ok(min_gap)) = (max.parse::<u32>(), duration::parse(per), duration::parse(gap)) else {
        return;
    };
    let caps = Caps { max: max.clamp(1, 1000), per, min_gap };
    let sent: Vec<_> = list(sent).iter().filter_map(|s| duration::parse(s).ok()).map(|d| t - d).take(50).collect();
    if let Some(x) = email_time(t, &window, tz, &caps, &sent) {
        assert!(x >= t, "email time {x} before due {t}");
        assert!(window.is_open(x, tz), "email time {x} outside {window:?}");
        assert!(caps.allows(x, &sent) || x - t > TimeDelta::days(300), "email time {x} breaks {caps:?}");
    }
});
