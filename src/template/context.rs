//! The data templates see. Email templates get `lead`, `owner`, `campaign`,
//! `step`, `unsubscribe_url`, `days_since_status_change`, `now` and
//! `postal_address`; rep reminders and digests get the task-side data.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Value, json};

use crate::campaign::{Campaign, Step};
use crate::config::{Config, Rep};
use crate::lead::Lead;

pub struct EmailInput<'a> {
    pub lead: &'a Lead,
    pub campaign: &'a Campaign,
    pub step: &'a Step,
    pub unsubscribe_url: &'a str,
    pub now: DateTime<Utc>,
}

/// One past touch, as reminder emails list a lead's recent contact.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    pub at: String,
    /// `at` as the reader's clock shows it: "Tue 1 Dec 2026, 09:00 EST".
    pub when: String,
    pub campaign: String,
    pub step: String,
    pub kind: String,
    pub outcome: String,
}

impl HistoryLine {
    /// A contact, dated in `tz` (the rep's zone).
    pub fn new(t: &crate::store::Touch, tz: Tz) -> HistoryLine {
        HistoryLine {
            at: rfc3339(t.at),
            when: local_time(t.at, tz),
            campaign: t.campaign.clone(),
            step: t.step.clone(),
            kind: t.kind.clone(),
            outcome: t.state.clone(),
        }
    }
}

/// `t` as a person reads it in `tz`: "Thu 3 Dec 2026, 10:12 EST".
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%a %-d %b %Y, %H:%M %Z").to_string()
}

/// The clock in `tz` at `now`, named by its city: "10:12 (Thu) in Lisbon",
/// so a rep knows whether to call now.
pub fn clock_in(now: DateTime<Utc>, tz: Tz) -> String {
    let city = tz.name().rsplit('/').next().unwrap_or(tz.name()).replace('_', " ");
    format!("{} in {city}", now.with_timezone(&tz).format("%H:%M (%a)"))
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `attribute_refs` are the attribute names any template mentions: a lead
/// without one renders it as "" instead of failing strict mode, so free-form
/// attributes behave like optional fields (use `default` for a fallback).
pub fn lead_json(lead: &Lead, attribute_refs: &BTreeSet<String>) -> Value {
    let mut v = serde_json::to_value(lead).unwrap_or(Value::Null);
    if let Some(attrs) = v.get_mut("attributes").and_then(Value::as_object_mut) {
        for name in attribute_refs {
            attrs.entry(name.clone()).or_insert(Value::String(String::new()));
        }
    }
    v
}

fn owner_json(lead: &Lead, reps: &[Rep]) -> Value {
    let name = reps.iter().find(|r| r.email == lead.owner).map(|r| r.name.clone()).unwrap_or_default();
    json!({ "email": lead.owner, "name": name })
}

pub fn email(input: &EmailInput, config: &Config, attribute_refs: &BTreeSet<String>) -> Value {
    json!({
        "lead": lead_json(input.lead, attribute_refs),
        "owner": owner_json(input.lead, &config.reps),
        "campaign": { "id": input.campaign.id, "name": input.campaign.name },
        "step": { "id": input.step.id },
        "unsubscribe_url": input.unsubscribe_url,
        "days_since_status_change": input.lead.days_since_status_change(input.now),
        "now": rfc3339(input.now),
        "postal_address": config.mail.postal_address,
        "answer_urls": config.answers.iter()
            .map(|a| (a.name.clone(), Value::String(crate::tracking::answer_placeholder(&config.http.public_url, &a.name))))
            .collect::<serde_json::Map<String, Value>>(),
    })
}

pub struct TaskInput<'a> {
    pub rep: &'a Rep,
    pub text: &'a str,
    pub due_at: DateTime<Utc>,
    pub lead: &'a Lead,
    pub campaign: &'a Campaign,
    pub step: &'a Step,
    pub history: &'a [HistoryLine],
    pub done_url: &'a str,
    pub now: DateTime<Utc>,
    /// The rep's time zone: due times and dates read in it.
    pub zone: Tz,
}

/// What every email to a rep about one lead's task carries: the rep, the
/// task and when it is due (in the rep's zone), the lead and its clock,
/// the history, the done link; `rest` adds the email's own keys.
#[allow(clippy::too_many_arguments)]
fn rep_email(
    rep: &Rep,
    (text, due_at): (&str, DateTime<Utc>),
    lead: &Lead,
    history: &[HistoryLine],
    done_url: &str,
    (now, zone): (DateTime<Utc>, Tz),
    attribute_refs: &BTreeSet<String>,
    rest: Value,
) -> Value {
    let mut v = json!({
        "rep": { "email": rep.email, "name": rep.name },
        "task": { "text": text, "due_at": rfc3339(due_at), "due": local_time(due_at, zone) },
        "lead_clock": lead.timezone.map(|z| clock_in(now, z)).unwrap_or_default(),
        "lead": lead_json(lead, attribute_refs),
        "history": history,
        "done_url": done_url,
        "now": rfc3339(now),
    });
    if let (Some(v), Value::Object(rest)) = (v.as_object_mut(), rest) {
        v.extend(rest);
    }
    v
}

pub fn task(input: &TaskInput, attribute_refs: &BTreeSet<String>) -> Value {
    let own = json!({
        "campaign": { "id": input.campaign.id, "name": input.campaign.name },
        "step": { "id": input.step.id },
        "days_since_status_change": input.lead.days_since_status_change(input.now),
    });
    let (task, clock) = ((input.text, input.due_at), (input.now, input.zone));
    rep_email(input.rep, task, input.lead, input.history, input.done_url, clock, attribute_refs, own)
}

/// One signal that made a lead ready, as the rep's hand-off email lists it.
#[derive(Debug, Clone, Serialize)]
pub struct WhyLine {
    pub at: String,
    /// `at` in the rep's zone.
    pub when: String,
    /// `clicked https://…`, `page_view:pricing`, `replied`, `answered "ready"`.
    pub what: String,
    /// The subject of the email clicked or answered, if any.
    pub email: String,
    /// Its points now, rounded (0: counted for nothing, e.g. a machine's).
    pub points: i64,
}

/// What the rep's hand-off email (`reminders/handoff`) is rendered with.
pub struct HandoffInput<'a> {
    pub rep: &'a Rep,
    pub text: &'a str,
    pub due_at: DateTime<Utc>,
    pub lead: &'a Lead,
    pub why: &'a str,
    pub score: f64,
    pub signals: &'a [WhyLine],
    pub history: &'a [HistoryLine],
    pub done_url: &'a str,
    pub now: DateTime<Utc>,
    pub zone: Tz,
}

pub fn handoff(input: &HandoffInput, attribute_refs: &BTreeSet<String>) -> Value {
    let own = json!({
        "handoff": { "why": input.why, "score": input.score.round() as i64, "signals": input.signals },
    });
    let (task, clock) = ((input.text, input.due_at), (input.now, input.zone));
    rep_email(input.rep, task, input.lead, input.history, input.done_url, clock, attribute_refs, own)
}

/// What `[handoff] task` is rendered with: the lead and why it is ready.
pub fn handoff_task(lead: &Lead, why: &str, score: f64, attribute_refs: &BTreeSet<String>) -> Value {
    json!({
        "lead": lead_json(lead, attribute_refs),
        "handoff": { "why": why, "score": score.round() as i64 },
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestLine {
    pub text: String,
    pub due_at: String,
    /// `due_at` in the rep's zone.
    pub due: String,
    pub lead_name: String,
    pub lead_email: String,
    pub company: String,
    pub done_url: String,
    /// The lead's latest message to us (a reply, an out-of-office note, a
    /// bounce), e.g. `2026-03-03 replied: "Call me in March"`; empty if none.
    pub latest: String,
}

/// `open`: the rep's open tasks in all, of which `tasks` are the first.
pub fn digest(rep: &Rep, tasks: &[DigestLine], open: i64, now: DateTime<Utc>) -> Value {
    let more = (open - tasks.len() as i64).max(0);
    json!({
        "rep": { "email": rep.email, "name": rep.name },
        "tasks": tasks,
        "count": open,
        "more": more,
        "plural": open != 1,
        "now": rfc3339(now),
    })
}

pub fn sample_rep() -> Rep {
    Rep { email: "rep@example.com".into(), name: "Riley Rep".into(), timezone: None, hours: None }
}

pub fn sample_history(now: DateTime<Utc>) -> Vec<HistoryLine> {
    vec![HistoryLine {
        at: rfc3339(now - chrono::TimeDelta::days(3)),
        when: local_time(now - chrono::TimeDelta::days(3), Tz::UTC),
        campaign: "nurture".into(),
        step: "intro".into(),
        kind: "email".into(),
        outcome: "sent".into(),
    }]
}

pub fn sample_digest_lines(lead: &Lead, now: DateTime<Utc>) -> Vec<DigestLine> {
    vec![DigestLine {
        text: format!("Call {} at {}", lead.first_name, lead.company),
        due_at: rfc3339(now),
        due: local_time(now, Tz::UTC),
        lead_name: format!("{} {}", lead.first_name, lead.last_name),
        lead_email: lead.email.clone(),
        company: lead.company.clone(),
        done_url: "https://nurture.example/t/sample/done".into(),
        latest: format!("{} replied: \"Can we talk on Thursday?\"", now.format("%Y-%m-%d")),
    }]
}
