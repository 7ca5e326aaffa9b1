//! A lead's readiness score: a pure function of its stored signals, the
//! `[scoring]` rules and `now` (README, *Readiness and hand-off*), so the
//! hand-off, `explain`, `leads show` and `simulate` all count the same.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use wildmatch::WildMatch;

use crate::config::{Answer, Handoff, Scoring};
use crate::store::{BURST, Signal};

/// One signal's share of the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    pub signal_id: i64,
    pub delivery_id: Option<i64>,
    pub kind: String,
    pub name: String,
    pub at: DateTime<Utc>,
    /// Points when it happened.
    pub points: f64,
    /// What is left of them at `now`.
    pub now: f64,
    /// Why it counts for nothing (a machine's click, a repeat), if so.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub total: f64,
    pub parts: Vec<Part>,
    /// The answer that asks for a rep (`handoff = true`), if one was given.
    pub answer: Option<Part>,
}

impl Score {
    /// Ready: an answer asked for a rep, or the score reached a threshold
    /// above 0.
    pub fn ready(&self, h: &Handoff) -> bool {
        self.answer.is_some() || (h.threshold > 0.0 && self.total >= h.threshold)
    }

    /// One line saying what made the score, biggest share first: for the
    /// rep's email, the task and the hand-off record.
    pub fn why(&self) -> String {
        if let Some(a) = &self.answer {
            return format!("answered \"{}\"", a.name);
        }
        let mut parts: Vec<&Part> = self.parts.iter().filter(|p| p.now > 0.0).collect();
        parts.sort_by(|a, b| b.now.total_cmp(&a.now));
        let words: Vec<String> = parts.iter().take(4).map(|p| p.describe()).collect();
        format!("score {:.0}: {}", self.total, words.join(", "))
    }
}

impl Part {
    /// `clicked https://…`, `page_view:pricing`, `replied`, `answered later`.
    pub fn describe(&self) -> String {
        match self.kind.as_str() {
            "click" => format!("clicked {}", self.name),
            "reply" => "replied".into(),
            "answer" => format!("answered \"{}\"", self.name),
            _ => self.name.clone(),
        }
    }
}

/// When a signal starts to count: a click once its burst is over (the
/// machine rules may still reclassify it until then), anything else at once.
pub fn counts_from(s: &Signal) -> DateTime<Utc> {
    if s.kind == "click" { s.at + BURST } else { s.at }
}

/// Points fade: halved every `half_life`.
pub fn fade(points: f64, age: TimeDelta, half_life: TimeDelta) -> f64 {
    let age = age.num_milliseconds().max(0) as f64;
    points * 0.5f64.powf(age / half_life.num_milliseconds() as f64)
}

/// The score at `now` of `signals` (a lead's, since its last hand-off,
/// oldest first): every signal counted by `now` adds its points, faded by
/// its age. A person's click adds `click` plus every matching link glob,
/// once per link per email; a machine's click adds nothing; a reply
/// `reply`; an answer its `points`; an event the points of `TYPE:NAME`,
/// else of `TYPE`, else nothing.
pub fn score(signals: &[Signal], rules: &Scoring, answers: &[Answer], now: DateTime<Utc>) -> Score {
    let globs: Vec<(WildMatch, f64)> = rules.links.iter().map(|(g, p)| (WildMatch::new(g), *p)).collect();
    let mut clicked: HashSet<(Option<i64>, Option<i64>)> = HashSet::new();
    let mut parts = Vec::new();
    let mut answer = None;
    for s in signals.iter().filter(|s| counts_from(s) <= now) {
        let mut note = String::new();
        let points = match s.kind.as_str() {
            "click" if !s.machine.is_empty() => {
                note = format!("a machine's click ({})", s.machine);
                0.0
            }
            "click" if !clicked.insert((s.delivery_id, s.link)) => {
                note = "this link of this email was counted already".into();
                0.0
            }
            "click" => rules.click + globs.iter().filter(|(g, _)| g.matches(&s.name)).map(|(_, p)| p).sum::<f64>(),
            "reply" => rules.reply,
            "answer" => answers.iter().find(|a| a.name == s.name).map_or(0.0, |a| a.points),
            _ => {
                let kind = s.name.split_once(':').map_or(s.name.as_str(), |(k, _)| k);
                rules.events.get(&s.name).or_else(|| rules.events.get(kind)).copied().unwrap_or(0.0)
            }
        };
        let part = Part {
            signal_id: s.id,
            delivery_id: s.delivery_id,
            kind: s.kind.clone(),
            name: s.name.clone(),
            at: s.at,
            points,
            now: fade(points, now - s.at, rules.half_life),
            note,
        };
        if s.kind == "answer" && answers.iter().any(|a| a.name == s.name && a.handoff) {
            answer = Some(part.clone());
        }
        parts.push(part);
    }
    let total = parts.iter().map(|p| p.now).sum::<f64>().max(0.0);
    Score { total, parts, answer }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_000_000 + s)
    }

    fn signal(id: i64, kind: &str, name: &str, link: Option<i64>, machine: &str, t: i64) -> Signal {
        Signal {
            id,
            delivery_id: Some(1),
            kind: kind.into(),
            name: name.into(),
            link,
            machine: machine.into(),
            at: at(t),
        }
    }

    #[test]
    fn clicks_count_once_per_link_and_machines_never() {
        let rules = Scoring::default();
        let s = [
            signal(1, "click", "https://x.test/pricing?a=1", Some(0), "", 0),
            signal(2, "click", "https://x.test/pricing?a=1", Some(0), "", 10),
            signal(3, "click", "https://x.test/guide", Some(1), "scanner", 10),
            signal(4, "event", "page_view:pricing", None, "", 10),
        ];
        let score = score(&s, &rules, &[], at(10));
        // The clicks at 10 s count from 12 s; 5 + 30 for pricing, 25 the page view.
        assert_eq!(score.parts.len(), 2);
        assert!((score.total - 60.0).abs() < 0.01, "{}", score.total);
        let later = super::score(&s, &rules, &[], at(12));
        assert_eq!(later.parts.len(), 4);
        assert_eq!(
            (later.parts[1].points, later.parts[1].note.as_str()),
            (0.0, "this link of this email was counted already")
        );
        assert_eq!((later.parts[2].points, later.parts[2].note.as_str()), (0.0, "a machine's click (scanner)"));
        assert!((later.total - score.total).abs() < 0.01, "neither adds anything");
        assert!(score.why().starts_with("score 60: clicked https://x.test/pricing?a=1"), "{}", score.why());
    }

    #[test]
    fn points_halve_every_half_life() {
        assert_eq!(fade(40.0, TimeDelta::days(30), TimeDelta::days(30)), 20.0);
        assert_eq!(fade(40.0, TimeDelta::days(60), TimeDelta::days(30)), 10.0);
        assert_eq!(fade(40.0, TimeDelta::seconds(-5), TimeDelta::days(30)), 40.0);
    }

    #[test]
    fn a_bare_type_scores_every_event_of_it() {
        let mut rules = Scoring::default();
        rules.events.insert("form".into(), 7.0);
        let s = [signal(1, "event", "form:demo", None, "", 0), signal(2, "event", "page_view:blog", None, "", 0)];
        let score = score(&s, &rules, &[], at(0));
        assert_eq!(score.parts.iter().map(|p| p.points).collect::<Vec<_>>(), [7.0, 0.0]);
    }
}
