//! Durations as campaign and config files write them: integers with a unit
//! `s`, `m`, `h`, `d` or `w`, combinable (`1d 12h`, `90m`).
//!
//! Hand-written rather than humantime: humantime also accepts months, years
//! and milliseconds, whose meaning a marketer would have to guess, and the
//! grammar README's *Writing a campaign* gives is exactly these five units.

use chrono::TimeDelta;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {why}; write e.g. \"30m\", \"2d\" or \"1d 12h\" (units s, m, h, d, w)")]
pub struct DurationError {
    input: String,
    why: &'static str,
}

pub fn parse(input: &str) -> Result<TimeDelta, DurationError> {
    let fail = |why| DurationError { input: input.to_string(), why };
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in input.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '\t' if digits.is_empty() => {}
            's' | 'm' | 'h' | 'd' | 'w' => {
                if digits.is_empty() {
                    return Err(fail("a unit must follow a number"));
                }
                let n: i64 = digits.parse().map_err(|_| fail("number too large"))?;
                let unit = match c {
                    's' => 1,
                    'm' => 60,
                    'h' => 3_600,
                    'd' => 86_400,
                    _ => 604_800,
                };
                total = n
                    .checked_mul(unit)
                    .and_then(|s| total.checked_add(s))
                    .filter(|s| *s <= MAX_SECONDS)
                    .ok_or_else(|| fail("longer than 100 years"))?;
                digits.clear();
                parts += 1;
            }
            _ if digits.is_empty() => return Err(fail("unexpected character")),
            _ => return Err(fail("unknown unit")),
        }
    }
    if !digits.is_empty() {
        return Err(fail("a number needs a unit"));
    }
    if parts == 0 {
        return Err(fail("empty"));
    }
    Ok(TimeDelta::seconds(total))
}

const MAX_SECONDS: i64 = 100 * 366 * 86_400;

/// The shortest spelling that `parse` reads back to the same value.
pub fn format(d: TimeDelta) -> String {
    let mut s = d.num_seconds();
    if s == 0 {
        return "0s".into();
    }
    let mut out = Vec::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push(format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_unit_and_combinations() {
        assert_eq!(parse("30s"), Ok(TimeDelta::seconds(30)));
        assert_eq!(parse("5m"), Ok(TimeDelta::minutes(5)));
        assert_eq!(parse("2h"), Ok(TimeDelta::hours(2)));
        assert_eq!(parse("0d"), Ok(TimeDelta::zero()));
        assert_eq!(parse("2w"), Ok(TimeDelta::days(14)));
        assert_eq!(parse("1d 12h"), Ok(TimeDelta::hours(36)));
        assert_eq!(parse("1d12h"), Ok(TimeDelta::hours(36)));
        assert_eq!(parse(" 180d "), Ok(TimeDelta::days(180)));
    }

    #[test]
    fn rejects_what_the_spec_does_not_define() {
        for bad in ["", " ", "5", "d", "5x", "1M", "1y", "-1d", "1.5d", "5 d", "1d 2", "99999999999999999999d"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn error_message_names_the_input_and_the_fix() {
        let msg = parse("5x").unwrap_err().to_string();
        assert!(msg.contains("\"5x\"") && msg.contains("1d 12h"), "{msg}");
    }

    #[test]
    fn format_round_trips() {
        for s in ["30s", "1d 12h", "180d", "1h 1m 1s"] {
            assert_eq!(parse(&format(parse(s).unwrap())), parse(s));
        }
    }
}
