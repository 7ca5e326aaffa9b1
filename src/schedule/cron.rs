//! Cron expressions (5 fields, or 6 with seconds first) evaluated in a zone.
//! croner does the calendar and DST work; this wrapper fixes the dialect we
//! accept and converts to and from UTC, the engine's only time base.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

#[derive(Debug, Clone)]
pub struct CronSpec {
    expr: String,
    cron: Cron,
}

impl CronSpec {
    pub fn parse(expr: &str) -> Result<CronSpec, String> {
        let fields = expr.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "cron {expr:?} has {fields} fields; write 5 (minute hour day month weekday, e.g. \"0 9 * * Mon-Fri\") or 6 with seconds first"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| format!("invalid cron {expr:?}: {e}"))?;
        // A pattern such as "0 0 31 2 *" parses but never fires; say so now
        // rather than letting a campaign silently never enrol anyone.
        let probe = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").map(|d| d.with_timezone(&Utc));
        if let Ok(probe) = probe
            && cron.find_next_occurrence(&probe, false).is_err()
        {
            return Err(format!("cron {expr:?} never fires"));
        }
        Ok(CronSpec { expr: expr.to_string(), cron })
    }

    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first fire time strictly after `after`, reading the expression
    /// as wall-clock time in `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after.with_timezone(&tz), false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The last fire time at or before `at`, if any within the search range.
    pub fn last_at_or_before(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&at.with_timezone(&tz), true).ok().map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_fire_on_weekdays_in_the_zone() {
        let c = CronSpec::parse("0 9 * * Mon-Fri").unwrap();
        // Friday 2026-03-06 10:00 London -> Monday 09:00 London (UTC+0 in March).
        let next = c.next_after(utc("2026-03-06T10:00:00Z"), chrono_tz::Europe::London);
        assert_eq!(next, Some(utc("2026-03-09T09:00:00Z")));
    }

    #[test]
    fn six_fields_have_seconds_first() {
        let c = CronSpec::parse("30 0 9 * * *").unwrap();
        assert_eq!(c.next_after(utc("2026-03-06T10:00:00Z"), Tz::UTC), Some(utc("2026-03-07T09:00:30Z")));
    }

    #[test]
    fn follows_daylight_saving_time() {
        let c = CronSpec::parse("0 9 * * *").unwrap();
        let ny = chrono_tz::America::New_York;
        // 2026-03-08 is the US spring-forward day: 09:00 is UTC-5 before, UTC-4 after.
        assert_eq!(c.next_after(utc("2026-03-07T00:00:00Z"), ny), Some(utc("2026-03-07T14:00:00Z")));
        assert_eq!(c.next_after(utc("2026-03-08T00:00:00Z"), ny), Some(utc("2026-03-08T13:00:00Z")));
    }

    #[test]
    fn last_fire_is_inclusive() {
        let c = CronSpec::parse("0 9 * * *").unwrap();
        let at = utc("2026-03-07T09:00:00Z");
        assert_eq!(c.last_at_or_before(at, Tz::UTC), Some(at));
        assert_eq!(c.last_at_or_before(utc("2026-03-07T08:59:00Z"), Tz::UTC), Some(utc("2026-03-06T09:00:00Z")));
    }

    #[test]
    fn rejects_wrong_field_counts_and_garbage() {
        for bad in ["", "* * * *", "0 0 0 * * * 2026", "61 * * * *", "0 9 * * Funday", "0 0 31 2 *"] {
            assert!(CronSpec::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
