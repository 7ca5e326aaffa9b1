//! What an edit to a campaign does to the enrolments already under way
//! (README, *Live edits*), counted for the reload log and `check
//! --database`. An active enrolment is a lead waiting at one step, matched
//! by step id in the campaign as it is when that step comes due:
//!
//! - its step removed: the enrolment ends at that time ("step removed
//!   from the campaign"), its remaining steps recorded `cancelled`;
//! - a step inserted before its step: it never runs for this lead;
//! - a step inserted after it, or the steps reordered: the lead goes on
//!   with whatever follows its step in the new file, except a step it has
//!   had already (a step never runs twice in one enrolment: it ends there);
//! - its step's `after` changed: its due time stays (it was set when the
//!   step before ran); later steps use the new `after`;
//! - a subject or template changed: the next email uses the new one;
//! - the audience narrowed: only a status that leaves the audience (or
//!   enters `exit.when_status`) ends enrolments, at each lead's next step;
//!   other audience rules decide entry only.

use std::collections::BTreeMap;

use super::Campaign;

/// The enrolments an edit touches, by kind of change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Impact {
    pub campaign: String,
    /// Active enrolments in the campaign.
    pub active: i64,
    /// (step no longer in the file, enrolments waiting at it: they end).
    pub ending: Vec<(String, i64)>,
    /// (step, enrolments waiting at it, new steps before it they skip).
    pub skipping: Vec<(String, i64, Vec<String>)>,
    /// (step whose `after` changed, enrolments waiting at it: due time kept).
    pub kept_due: Vec<(String, i64)>,
}

/// The impact of replacing `old` (when known) by `new` on the enrolments
/// `waiting` at each step id.
pub fn impact(old: Option<&Campaign>, new: &Campaign, waiting: &BTreeMap<String, i64>) -> Impact {
    let mut i = Impact { campaign: new.id.clone(), active: waiting.values().sum(), ..Impact::default() };
    for (step, n) in waiting {
        let Some(at) = new.steps.iter().position(|s| s.id == *step) else {
            i.ending.push((step.clone(), *n));
            continue;
        };
        let Some(old) = old else { continue };
        let inserted: Vec<String> =
            new.steps[..at].iter().filter(|s| old.step(&s.id).is_none()).map(|s| s.id.clone()).collect();
        if !inserted.is_empty() {
            i.skipping.push((step.clone(), *n, inserted));
        }
        if old.step(step).is_some_and(|o| o.after != new.steps[at].after) {
            i.kept_due.push((step.clone(), *n));
        }
    }
    i
}

impl Impact {
    /// Nothing under way is touched in a way worth saying.
    pub fn is_quiet(&self) -> bool {
        self.ending.is_empty() && self.skipping.is_empty() && self.kept_due.is_empty()
    }

    /// One sentence for people: `winback: 120 active enrolments; 30 wait
    /// at removed step e2 and will end; ...`.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{}: {} active enrolment(s)", self.campaign, self.active)];
        for (step, n) in &self.ending {
            parts.push(format!("{n} wait at step {step}, no longer in the file, and will end at their next step"));
        }
        for (step, n, new) in &self.skipping {
            parts.push(format!("{n} wait at {step} and will not run the new step(s) before it: {}", new.join(", ")));
        }
        for (step, n) in &self.kept_due {
            parts.push(format!("{n} wait at {step}, whose `after` changed: their due time stays"));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::impact;
    use crate::campaign::Campaign;
    use crate::config::Config;
    use crate::diag::Diagnostics;
    use crate::source::Source;

    fn campaign(steps: &str) -> Campaign {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let head = "[audience]\nstatus = [\"new\"]\n[enrol]\ncron = \"0 9 * * *\"\n";
        std::fs::write(&path, format!("{head}{steps}")).unwrap();
        let mut diags = Diagnostics::default();
        let config = Config::from_file(&Source::new(dir.path().join("nurture.toml"), ""), &mut Diagnostics::default());
        let c = crate::campaign::load::load_file(&path, &config, &mut diags);
        c.unwrap_or_else(|| panic!("{diags}"))
    }

    #[test]
    fn an_edit_counts_the_enrolments_it_ends_skips_and_keeps() {
        let old = campaign(
            "[[step]]\nid = \"a\"\ntask = \"A\"\n[[step]]\nid = \"b\"\nafter = \"1d\"\ntask = \"B\"\n[[step]]\nid = \"c\"\nafter = \"1d\"\ntask = \"C\"\n",
        );
        let new = campaign(
            "[[step]]\nid = \"a\"\ntask = \"A\"\n[[step]]\nid = \"n\"\nafter = \"1d\"\ntask = \"N\"\n[[step]]\nid = \"c\"\nafter = \"3d\"\ntask = \"C\"\n",
        );
        let waiting = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 3), ("c".to_string(), 2)]);
        let i = impact(Some(&old), &new, &waiting);
        assert_eq!(i.active, 10);
        assert_eq!(i.ending, [("b".to_string(), 3)]);
        assert_eq!(i.skipping, [("c".to_string(), 2, vec!["n".to_string()])]);
        assert_eq!(i.kept_due, [("c".to_string(), 2)]);
        assert!(i.summary().contains("3 wait at step b, no longer in the file"), "{}", i.summary());
        let unknown_old = impact(None, &new, &waiting);
        assert_eq!(
            (unknown_old.ending.len(), unknown_old.skipping.len()),
            (1, 0),
            "without the old file only removals"
        );
        assert!(impact(Some(&old), &old, &waiting).is_quiet());
    }
}
