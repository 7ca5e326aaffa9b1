//! `[report]`: what counts as a campaign's success in `nurture report`: a
//! lead entering one of the `goal` statuses within `window` after an email
//! of the campaign was sent to it.

use chrono::TimeDelta;

use super::file::ReportFile;
use crate::fields::Fields;

#[derive(Debug, Clone)]
pub struct Report {
    pub goal: Vec<String>,
    /// A conversion is credited to the last step sent within this long
    /// before it.
    pub window: TimeDelta,
}

impl Default for Report {
    fn default() -> Report {
        Report { goal: vec!["sales_ready".into(), "won".into()], window: TimeDelta::days(30) }
    }
}

pub(super) fn resolve(raw: ReportFile, f: &mut Fields, statuses: &[String]) -> Report {
    let d = Report::default();
    let goal = match raw.goal {
        None => d.goal.into_iter().filter(|g| statuses.contains(g)).collect(),
        Some(goal) => {
            let unknown: Vec<&String> = goal.get_ref().iter().filter(|g| !statuses.contains(g)).collect();
            if !unknown.is_empty() {
                f.error(
                    &goal,
                    format!("report.goal names {unknown:?}, not among [leads] statuses ({})", statuses.join(", ")),
                );
            }
            goal.into_inner()
        }
    };
    Report { goal, window: raw.window.and_then(|w| f.duration(&w)).unwrap_or(d.window) }
}
