//! `[tracking]`, `[scoring]`, `[handoff]` and `[answers.NAME]`: how
//! nurture sees that a lead is ready and hands it to a rep (README,
//! *Readiness and hand-off*).

use std::collections::BTreeMap;

use chrono::TimeDelta;
use toml::Spanned;

use super::file::{AnswerFile, HandoffFile, ScoringFile, TrackingFile};
use crate::fields::{Fields, nearest};

#[derive(Debug, Clone)]
pub struct Tracking {
    /// http(s) links in emails go through `{public_url}/c/{token}`.
    pub links: bool,
    /// A click this soon after its email was sent is a scanner's.
    pub scanner_window: TimeDelta,
}

impl Default for Tracking {
    fn default() -> Tracking {
        Tracking { links: true, scanner_window: TimeDelta::seconds(60) }
    }
}

#[derive(Debug, Clone)]
pub struct Scoring {
    /// A person's click, once per link per email.
    pub click: f64,
    pub reply: f64,
    /// Points halve every `half_life`.
    pub half_life: TimeDelta,
    /// Extra points for a click whose URL matches the glob (`*`, `?`),
    /// every matching glob counted.
    pub links: Vec<(String, f64)>,
    /// Points per named event, `type:name` (`page_view:pricing`) or a bare
    /// `type` for every event of that type.
    pub events: BTreeMap<String, f64>,
}

impl Default for Scoring {
    fn default() -> Scoring {
        Scoring {
            click: 5.0,
            reply: 20.0,
            half_life: TimeDelta::days(30),
            links: vec![("*/pricing*".into(), 30.0)],
            events: BTreeMap::from([("page_view:pricing".into(), 25.0)]),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Handoff {
    /// A score reaching this makes the lead ready; 0: only answers do.
    pub threshold: f64,
    pub status: String,
    /// The task's text, a template (registered as [`HANDOFF_TASK`]).
    pub task: String,
    /// Where `task` starts in the config file (line, column), for errors.
    pub task_at: Option<(usize, usize)>,
    /// Due this long after the hand-off, counted in the rep's working hours.
    pub due: TimeDelta,
    pub escalate_after: TimeDelta,
    /// Told once when a hand-off task is not done within `escalate_after`.
    pub escalate_to: Option<String>,
}

/// The name the hand-off task's text is registered under.
pub const HANDOFF_TASK: &str = "@handoff/task";

impl Default for Handoff {
    fn default() -> Handoff {
        Handoff {
            threshold: 60.0,
            status: "sales_ready".into(),
            task: "Call {{lead.first_name}} now: {{handoff.why}}".into(),
            task_at: None,
            due: TimeDelta::hours(1),
            escalate_after: TimeDelta::hours(2),
            escalate_to: None,
        }
    }
}

/// `[answers.NAME]`: a one-click answer a lead gives from an email
/// (`{{answer_url "NAME"}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub name: String,
    pub label: String,
    pub handoff: bool,
    pub pause: Option<TimeDelta>,
    pub status: Option<String>,
    pub reason: String,
    pub attribute: BTreeMap<String, String>,
    /// Points the answer adds to the score (0 unless set).
    pub points: f64,
}

/// The bundled answers, used when the config names none.
pub fn default_answers() -> Vec<Answer> {
    let a = |name: &str, label: &str| Answer {
        name: name.into(),
        label: label.into(),
        handoff: false,
        pause: None,
        status: None,
        reason: String::new(),
        attribute: BTreeMap::new(),
        points: 0.0,
    };
    vec![
        Answer { handoff: true, ..a("ready", "Yes, I'd like to talk") },
        Answer { pause: Some(TimeDelta::days(90)), ..a("later", "Not now: ask me again in 3 months") },
        Answer {
            status: Some("lost".into()),
            reason: "not interested".into(),
            ..a("not_interested", "No longer interested")
        },
    ]
    .into_iter()
    .collect()
}

pub(super) fn tracking(raw: TrackingFile, f: &mut Fields) -> Tracking {
    let d = Tracking::default();
    Tracking {
        links: raw.links.unwrap_or(d.links),
        scanner_window: raw.scanner_window.and_then(|w| f.duration(&w)).unwrap_or(d.scanner_window),
    }
}

/// Points are never negative: a score is a sum of them, and "never below
/// zero" is what the README promises.
fn points(f: &mut Fields, v: &Spanned<f64>, key: &str) -> Option<f64> {
    f.parse(v, |p| match *p {
        p if p.is_finite() && p >= 0.0 => Ok(p),
        p => Err(format!("{key} = {p}: points are a number of at least 0")),
    })
}

pub(super) fn scoring(raw: ScoringFile, f: &mut Fields) -> Scoring {
    let d = Scoring::default();
    let click = raw.click.and_then(|v| points(f, &v, "scoring.click")).unwrap_or(d.click);
    let reply = raw.reply.and_then(|v| points(f, &v, "scoring.reply")).unwrap_or(d.reply);
    let half_life = match raw.half_life {
        Some(h) => f
            .parse(&h, |s| match crate::duration::parse(s).map_err(|e| e.to_string())? {
                t if t > TimeDelta::zero() => Ok(t),
                _ => Err("scoring.half_life must be longer than 0, e.g. \"30d\"".into()),
            })
            .unwrap_or(d.half_life),
        None => d.half_life,
    };
    let explicit = raw.links.is_empty() && raw.events.is_empty();
    let mut links = Vec::new();
    for (glob, v) in &raw.links {
        if let Some(p) = points(f, v, &format!("scoring.links.{glob:?}")) {
            if glob.trim().is_empty() {
                f.error(v, "scoring.links: an empty glob; write e.g. \"*/pricing*\"");
            } else {
                links.push((glob.clone(), p));
            }
        }
    }
    let mut events = BTreeMap::new();
    for (name, v) in &raw.events {
        let Some(p) = points(f, v, &format!("scoring.events.{name:?}")) else { continue };
        let (kind, _) = name.split_once(':').unwrap_or((name, ""));
        if kind.is_empty() || kind.contains(char::is_whitespace) {
            f.error(v, format!("scoring.events.{name:?}: write \"TYPE:NAME\" (\"page_view:pricing\") or \"TYPE\""));
        } else {
            events.insert(name.clone(), p);
        }
    }
    // Neither table written: the documented defaults; either written: only
    // what is written.
    let (links, events) = if explicit { (d.links, d.events) } else { (links, events) };
    Scoring { click, reply, half_life, links, events }
}

pub(super) fn handoff(raw: HandoffFile, f: &mut Fields, statuses: &[String]) -> Handoff {
    let d = Handoff::default();
    let threshold = match raw.threshold {
        Some(t) => f
            .parse(&t, |t| match *t {
                t if t.is_finite() && t >= 0.0 => Ok(t),
                t => Err(format!(
                    "handoff.threshold = {t}: a score is never below 0; use a positive number, or 0 so that only \
                     answers hand over"
                )),
            })
            .unwrap_or(d.threshold),
        None => d.threshold,
    };
    let status = match raw.status {
        Some(s) => f.parse(&s, |s| known_status(s, statuses, "handoff.status")).unwrap_or(d.status),
        None if statuses.contains(&d.status) => d.status,
        // Custom statuses without sales_ready: the first one stands in,
        // and the config is expected to say which (a warning from check).
        None => statuses.first().cloned().unwrap_or(d.status),
    };
    let task_at = raw.task.as_ref().map(|t| crate::source::line_col(&f.source.text, t.span().start + 1));
    let task = raw.task.map(Spanned::into_inner).filter(|t| !t.trim().is_empty()).unwrap_or(d.task);
    let duration = |f: &mut Fields, v: Option<Spanned<String>>, default: TimeDelta| {
        v.and_then(|v| f.duration(&v)).unwrap_or(default)
    };
    let due = duration(f, raw.due, d.due);
    let escalate_after = duration(f, raw.escalate_after, d.escalate_after);
    let escalate_to = raw
        .escalate_to
        .filter(|n| !n.get_ref().trim().is_empty())
        .and_then(|n| f.parse(&n, |s| crate::email::parse_address(s).map(|a| a.to_string())));
    Handoff { threshold, status, task, task_at, due, escalate_after, escalate_to }
}

fn known_status(s: &str, statuses: &[String], key: &str) -> Result<String, String> {
    let s = s.trim();
    if statuses.iter().any(|k| k == s) {
        return Ok(s.to_string());
    }
    let hint =
        nearest(s, statuses.iter().map(String::as_str), 3).map(|n| format!("did you mean {n:?}? ")).unwrap_or_default();
    Err(format!("{key} {s:?} is not among [leads] statuses; {hint}known: {}", statuses.join(", ")))
}

pub(super) fn answers(raw: BTreeMap<String, Spanned<AnswerFile>>, f: &mut Fields, statuses: &[String]) -> Vec<Answer> {
    if raw.is_empty() {
        return default_answers()
            .into_iter()
            .filter(|a| a.status.as_ref().is_none_or(|s| statuses.contains(s)))
            .collect();
    }
    let mut out = Vec::new();
    for (name, spanned) in raw {
        let span = spanned.span();
        let a = spanned.into_inner();
        let here = Spanned::new(span.clone(), ());
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            f.error(&here, format!("[answers.{name}]: an answer's name is letters, digits, '-' and '_'"));
            continue;
        }
        let status =
            a.status.and_then(|s| f.parse(&s, |s| known_status(s, statuses, &format!("answers.{name}.status"))));
        if a.reason.is_some() && status.is_none() {
            f.warn(&here, format!("answers.{name}.reason is only used with answers.{name}.status"));
        }
        let points = a.points.and_then(|p| points(f, &p, &format!("answers.{name}.points"))).unwrap_or(0.0);
        let answer = Answer {
            label: a.label.filter(|l| !l.trim().is_empty()).unwrap_or_else(|| name.replace(['_', '-'], " ")),
            handoff: a.handoff.unwrap_or(false),
            pause: a.pause.and_then(|p| f.duration(&p)),
            status,
            reason: a.reason.unwrap_or_default(),
            attribute: a.attribute,
            points,
            name,
        };
        if !answer.handoff
            && answer.pause.is_none()
            && answer.status.is_none()
            && answer.attribute.is_empty()
            && answer.points == 0.0
        {
            f.warn(
                &here,
                format!("[answers.{}] does nothing: give it handoff, pause, status, attribute or points", answer.name),
            );
        }
        out.push(answer);
    }
    out
}
