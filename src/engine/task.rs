//! Task steps: pick the rep, record the task, and email the rep a reminder
//! with the lead's details and recent contact history.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::events::Kind as Ev;
use super::step::{ATTEMPTED, Ended, outcome};
use super::{Engine, Event, Result};
use crate::campaign::{Action, Assign, Campaign, Step};
use crate::config::Rep;
use crate::lead::Lead;
use crate::mail::Outgoing;
use crate::store::{Due, Kind, NewTask, Next, State, TaskRow};
use crate::template::context::{self, TaskInput};
use crate::template::inline_name;

/// Contact-history lines shown in a reminder.
const HISTORY: i64 = 10;

impl Engine {
    pub(super) async fn create_task(
        &self,
        c: &Campaign,
        step: &Step,
        lead: &Lead,
        d: &Due,
        next: &Next,
        now: DateTime<Utc>,
    ) -> Result<Ended> {
        let Action::Task { assign, due, .. } = &step.action else { return Ok(None) };
        let Some((id, _)) = self.begin(d, Kind::Task, now).await? else {
            if self.refused_by_pause(c).await? {
                return Ok(None);
            }
            return self.finish(None, c, d, lead, outcome(State::Uncertain, ATTEMPTED, "", now), next).await;
        };
        let Some(rep) = self.assignee(assign, lead, now).await? else {
            let why = "the lead has no owner and no reps_file is set for round-robin";
            return self.finish(Some(id), c, d, lead, outcome(State::Failed, why, "", now), next).await;
        };
        let data = self.defs.email_data(c, step, lead, "", now);
        let text = match self.defs.templates.render_text(&inline_name(&c.id, &step.id), &data) {
            Ok(t) => t.split_whitespace().collect::<Vec<_>>().join(" "),
            Err(e) => {
                return self.finish(Some(id), c, d, lead, outcome(State::Failed, &e.to_string(), "", now), next).await;
            }
        };
        let task = NewTask { rep: rep.email.clone(), text: text.clone(), due_at: now + *due, created_at: now };
        let task_id = self.store.create_task(id, d, &task).await?;
        let e = Event::new(now, Ev::Task).campaign(&c.id).step(&step.id).for_lead(lead).to(&rep.email);
        self.emit(e.subject(&text));
        let ended = self.finish(Some(id), c, d, lead, outcome(State::Sent, "", &text, now), next).await?;
        self.remind(c, step, lead, &rep, task_id, &task, now).await?;
        Ok(ended)
    }

    /// The rep a task goes to: never two reps for one task, and one rep
    /// for all of a lead's tasks. `"owner"` and `"round-robin"` go to the
    /// lead's owner; a lead without one (or whose owner is no longer in
    /// the reps file) is given the next rep in turn as its owner, stored,
    /// so every later task of every campaign goes to the same rep. Only
    /// `assign = "rep@..."` names someone else.
    pub(super) async fn assignee(&self, assign: &Assign, lead: &Lead, now: DateTime<Utc>) -> Result<Option<Rep>> {
        let config = &self.defs.config;
        let reps = &config.reps;
        let owner = lead.owner.trim().to_lowercase();
        let current = !owner.is_empty() && (reps.is_empty() || reps.iter().any(|r| r.email == owner));
        match assign {
            Assign::Rep(email) => return Ok(Some(config.rep(email))),
            _ if current => return Ok(Some(config.rep(&owner))),
            _ if reps.is_empty() => return Ok(None),
            _ => {}
        }
        let n = self.store.next_counter("round-robin").await?;
        let pick = &reps[((n - 1) as usize) % reps.len()];
        // Conditional on the owner read with the lead: another step of the
        // same lead may have assigned one since; then that one stands.
        let owner_now = self.store.assign_owner(lead.id, &lead.owner, &pick.email, now).await?;
        if owner_now == pick.email {
            let removed = (!owner.is_empty()).then_some(owner.as_str());
            tracing::info!(lead_id = lead.id, rep = pick.email, previous = removed, "Lead assigned to a rep.");
        }
        Ok(Some(config.rep(&owner_now)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn remind(
        &self,
        c: &Campaign,
        step: &Step,
        lead: &Lead,
        rep: &Rep,
        task_id: i64,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let zone = self.rep_zone(&rep.email);
        // What happened before this task: the task itself is not news.
        let history: Vec<context::HistoryLine> = self
            .store
            .history(lead.id, HISTORY)
            .await?
            .iter()
            .filter(|t| !(t.kind == "task" && t.campaign == c.id && t.step == step.id))
            .map(|t| context::HistoryLine::new(t, zone))
            .collect();
        let done_url = self.links.task_done_url(task_id);
        let input = TaskInput {
            rep,
            text: &task.text,
            due_at: task.due_at,
            lead,
            campaign: c,
            step,
            history: &history,
            done_url: &done_url,
            now,
            zone,
        };
        let data = context::task(&input, &self.defs.templates.attribute_refs);
        let Ok((subject, text, html)) = self.defs.templates.render_rep_email("reminders/task", &data) else {
            let e = Event::new(now, Ev::Skipped).campaign(&c.id).step(&step.id).for_lead(lead).to(&rep.email);
            self.emit(e.reason("reminder template failed to render; the task is still in the digest"));
            return Ok(());
        };
        let message = Outgoing {
            to: rep.email.clone(),
            subject,
            text,
            html: Some(html),
            unsubscribe_url: None,
            ..Default::default()
        };
        let base = Event::new(now, Ev::Reminder).campaign(&c.id).step(&step.id).for_lead(lead).to(&rep.email);
        self.turn().await;
        let (result, elapsed) = self.send(&message).await;
        let base = base.elapsed(elapsed);
        match result {
            Ok(()) => self.emit(base.subject(&message.subject)),
            Err(e) => self.emit(Event { event: Ev::Skipped, ..base }.reason(&format!("reminder not sent: {e}"))),
        }
        Ok(())
    }
}

/// A digest line for an open task.
pub(super) fn digest_line(t: &TaskRow, done_url: String, latest: String, zone: Tz) -> context::DigestLine {
    context::DigestLine {
        text: t.text.clone(),
        due_at: context::rfc3339(t.due_at),
        due: context::local_time(t.due_at, zone),
        lead_name: t.lead_name.clone(),
        lead_email: t.lead_email.clone(),
        company: t.company.clone(),
        done_url,
        latest,
    }
}
