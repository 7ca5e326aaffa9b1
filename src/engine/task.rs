//! Task steps: pick the rep, record the task, and email the rep a reminder
//! with the lead's details and recent contact history.

use chrono::{DateTime, Utc};

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
            return self.finish(None, c, d, lead, outcome(State::Uncertain, ATTEMPTED, "", now), next).await;
        };
        let Some(rep) = self.assignee(assign, lead).await? else {
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

    /// The rep a task goes to: never two reps for one task.
    async fn assignee(&self, assign: &Assign, lead: &Lead) -> Result<Option<Rep>> {
        let reps = &self.defs.config.reps;
        let known = |email: &str| self.defs.config.rep(email);
        Ok(match assign {
            Assign::Rep(email) => Some(known(email)),
            Assign::Owner if !lead.owner.trim().is_empty() => Some(known(&lead.owner.trim().to_lowercase())),
            Assign::Owner | Assign::RoundRobin if !reps.is_empty() => {
                let n = self.store.next_counter("round-robin").await?;
                Some(reps[((n - 1) as usize) % reps.len()].clone())
            }
            _ => None,
        })
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
        let history: Vec<context::HistoryLine> =
            self.store.history(lead.id, HISTORY).await?.iter().map(context::HistoryLine::from).collect();
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
        };
        let data = context::task(&input, &self.defs.templates.attribute_refs);
        let Ok((subject, text, html)) = self.defs.templates.render_rep_email("reminders/task", &data) else {
            let e = Event::new(now, Ev::Skipped).campaign(&c.id).step(&step.id).for_lead(lead).to(&rep.email);
            self.emit(e.reason("reminder template failed to render; the task is still in the digest"));
            return Ok(());
        };
        let message = Outgoing { to: rep.email.clone(), subject, text, html: Some(html), unsubscribe_url: None };
        let base = Event::new(now, Ev::Reminder).campaign(&c.id).step(&step.id).for_lead(lead).to(&rep.email);
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
pub(super) fn digest_line(t: &TaskRow, done_url: String) -> context::DigestLine {
    context::DigestLine {
        text: t.text.clone(),
        due_at: context::rfc3339(t.due_at),
        lead_name: t.lead_name.clone(),
        lead_email: t.lead_email.clone(),
        company: t.company.clone(),
        done_url,
    }
}
