//! `[guardrails]`: the limits past which nurture stops a sending problem
//! from growing (a campaign's bounce or complaint rate), and who is told.

use chrono::TimeDelta;

use super::file::GuardrailsFile;
use crate::fields::Fields;

#[derive(Debug, Clone)]
pub struct Guardrails {
    /// Bounced / (sent + bounced) marketing emails of one campaign over
    /// `window` above this pauses the campaign.
    pub max_bounce_rate: f64,
    /// Complaints / sent, likewise (complaints arrive by inbound mail).
    pub max_complaint_rate: f64,
    /// Rates are judged only once this many emails were sent in `window`.
    pub min_sample: u32,
    pub window: TimeDelta,
    /// Told by email when a campaign or all sending pauses.
    pub notify: Option<String>,
}

impl Default for Guardrails {
    fn default() -> Guardrails {
        Guardrails {
            max_bounce_rate: 0.05,
            max_complaint_rate: 0.003,
            min_sample: 100,
            window: TimeDelta::days(1),
            notify: None,
        }
    }
}

pub(super) fn resolve(raw: GuardrailsFile, f: &mut Fields) -> Guardrails {
    let d = Guardrails::default();
    let mut rate = |v: Option<toml::Spanned<f64>>, default: f64, key: &str| match v {
        Some(r) if !(0.0..=1.0).contains(r.get_ref()) => {
            f.error(&r, format!("guardrails.{key} is a fraction from 0 to 1 (0.05 is 5 %)"));
            default
        }
        Some(r) => r.into_inner(),
        None => default,
    };
    let max_bounce_rate = rate(raw.max_bounce_rate, d.max_bounce_rate, "max_bounce_rate");
    let max_complaint_rate = rate(raw.max_complaint_rate, d.max_complaint_rate, "max_complaint_rate");
    Guardrails {
        max_bounce_rate,
        max_complaint_rate,
        min_sample: super::positive(f, raw.min_sample, d.min_sample, "guardrails.min_sample"),
        window: raw.window.and_then(|w| f.duration(&w)).unwrap_or(d.window),
        notify: raw
            .notify
            .filter(|n| !n.get_ref().trim().is_empty())
            .and_then(|n| f.parse(&n, |s| crate::email::parse_address(s).map(|a| a.to_string()))),
    }
}
