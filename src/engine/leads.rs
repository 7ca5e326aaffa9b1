//! Every change a person or a system makes to a lead, in one place: the
//! CLI, the API, the link pages and inbound mail call these and
//! nothing else, so each change has the same consequences whoever makes
//! it: the change is saved, then the lead leaves the enrolments it no
//! longer belongs in and enters the campaigns it now fits, at once.

use chrono::{DateTime, Utc};

use super::events::Kind;
use super::{Engine, EngineError, Event, Result};
use crate::config::Answer;
use crate::lead::Lead;
use crate::links::AnswerToken;
use crate::store::AnswerGiven;
use crate::store::TaskRow;
use crate::store::{NewLead, Source};

/// What became of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answered {
    Recorded(Answer),
    /// Given from this email before: nothing done again.
    Again(Answer),
    /// The lead was forgotten, or the config no longer has the answer.
    Unknown,
}

impl Engine {
    /// Insert or update leads by email (all or none), then apply what
    /// follows for each. Returns their ids.
    pub async fn upsert_leads(&self, leads: &[NewLead], source: Source, now: DateTime<Utc>) -> Result<Vec<i64>> {
        let ids = self.store.upsert_leads(leads, source, now).await?;
        self.refuse_forgotten(leads.iter().map(|l| l.email.as_str()), now).await?;
        for id in &ids {
            self.follow(*id, now).await?;
        }
        self.wake();
        Ok(ids)
    }

    /// Leads as a CRM had them before the clock started (`simulate
    /// --leads`): stored without the immediate checks, so, like a lead a
    /// CRM writes into the database directly, they enter campaigns at
    /// their next sweep.
    pub async fn seed_leads(&self, leads: &[NewLead], at: DateTime<Utc>) -> Result<()> {
        self.store.upsert_leads(leads, Source::Csv, at).await?;
        self.refuse_forgotten(leads.iter().map(|l| l.email.as_str()), at).await?;
        Ok(())
    }

    /// Change a lead's status (`status_changed_at` moves only if it
    /// differs). Returns the lead as it was before.
    pub async fn set_status(
        &self,
        email: &str,
        status: &str,
        reason: Option<&str>,
        source: Source,
        now: DateTime<Utc>,
    ) -> Result<Lead> {
        let statuses = &self.defs.config.statuses;
        if !statuses.iter().any(|s| s == status) {
            return Err(EngineError::UnknownStatus { status: status.to_string(), known: statuses.join(", ") });
        }
        let lead = self.find(email).await?;
        self.store.set_status(lead.id, status, reason, source, now).await?;
        self.follow(lead.id, now).await?;
        self.wake();
        Ok(lead)
    }

    /// A reply from the lead: campaigns with `on_reply` end for it.
    pub async fn replied(&self, email: &str, source: Source, now: DateTime<Utc>) -> Result<Lead> {
        let lead = self.find(email).await?;
        self.store.record_reply(lead.id, source, now).await?;
        self.follow(lead.id, now).await?;
        Ok(lead)
    }

    /// A named event from the website or a form tool (`page_view`,
    /// `pricing`): stored as a signal `TYPE:NAME` and scored by `[scoring]
    /// events`; the lead's readiness is looked at at once.
    pub async fn event(&self, email: &str, kind: &str, name: &str, now: DateTime<Utc>) -> Result<Lead> {
        let lead = self.find(email).await?;
        let full = if name.is_empty() { kind.to_string() } else { format!("{kind}:{name}") };
        self.store.record_signal(lead.id, "event", &full, now).await?;
        self.wake();
        Ok(lead)
    }

    /// A lead's answer from an email (`POST /a/TOKEN`): recorded once per
    /// email and answer, then what `[answers.NAME]` says is done: pause,
    /// attributes, status, hand-off (looked at at once).
    pub async fn answer(&self, token: &AnswerToken, now: DateTime<Utc>) -> Result<Answered> {
        let Some(answer) = self.defs.config.answers.iter().find(|a| a.name == token.answer).cloned() else {
            return Ok(Answered::Unknown);
        };
        let Some(lead) = self.store.lead(token.lead_id).await? else { return Ok(Answered::Unknown) };
        // The email may be gone (retention): the answer still counts, once
        // per lead and name from then on.
        let delivery_id = self.store.delivery_subject(token.delivery_id).await?.map(|_| token.delivery_id);
        let given = AnswerGiven {
            lead_id: lead.id,
            delivery_id,
            name: answer.name.clone(),
            pause_until: answer.pause.map(|p| now + p),
            attributes: answer.attribute.clone(),
            at: now,
        };
        if !self.store.record_answer(&given).await? {
            return Ok(Answered::Again(answer));
        }
        self.emit(Event::new(now, Kind::Answered).for_lead(&lead).reason(&answer.name));
        if let Some(status) = &answer.status {
            let reason = (!answer.reason.is_empty()).then_some(answer.reason.as_str());
            self.store.set_status(lead.id, status, reason, Source::Link, now).await?;
        }
        self.check_now(lead.id, now).await?;
        self.follow(lead.id, now).await?;
        self.wake();
        Ok(Answered::Recorded(answer))
    }

    /// No marketing email to this address again; false if it was
    /// suppressed already. Its lead, if any, leaves every campaign.
    pub async fn suppress(&self, email: &str, reason: &str, source: Source, now: DateTime<Utc>) -> Result<bool> {
        let added = self.store.suppress(email, reason, source, now).await?;
        self.follow_address(email, now).await?;
        Ok(added)
    }

    /// Lift a suppression; false if there was none. Its lead, if any,
    /// enters the campaigns it fits at once.
    pub async fn unsuppress(&self, email: &str, source: Source, now: DateTime<Utc>) -> Result<bool> {
        let lifted = self.store.unsuppress(email, source, now).await?;
        self.follow_address(email, now).await?;
        Ok(lifted)
    }

    /// The lead used the unsubscribe link of one of its emails. `None`:
    /// no such lead (any more).
    pub async fn unsubscribe(&self, lead_id: i64, now: DateTime<Utc>) -> Result<Option<Lead>> {
        let Some(lead) = self.store.lead(lead_id).await? else { return Ok(None) };
        self.store.suppress(&lead.email, "unsubscribed", Source::Link, now).await?;
        self.follow(lead.id, now).await?;
        Ok(Some(lead))
    }

    /// A rep marked a task done: the task, and whether it was open until
    /// now (false: done before). `None`: no such task.
    pub async fn task_done(&self, id: i64, source: Source, now: DateTime<Utc>) -> Result<Option<(TaskRow, bool)>> {
        let Some(task) = self.store.task(id).await? else { return Ok(None) };
        let closed = self.store.task_done(id, source, now).await?;
        Ok(Some((task, closed)))
    }

    async fn find(&self, email: &str) -> Result<Lead> {
        self.store.lead_by_email(email).await?.ok_or_else(|| EngineError::UnknownLead(email.to_string()))
    }

    /// [`Engine::follow`] for the lead with this address, if there is one.
    async fn follow_address(&self, email: &str, now: DateTime<Utc>) -> Result<()> {
        match self.store.lead_by_email(email).await? {
            Some(lead) => self.follow(lead.id, now).await,
            None => Ok(()),
        }
    }

    /// What follows a saved change: exits, then enrolment. Its failure is
    /// [`EngineError::Saved`]: the change stands, and the next step and
    /// sweep apply what did not follow.
    pub(super) async fn follow(&self, lead_id: i64, now: DateTime<Utc>) -> Result<()> {
        let followed = async {
            let Some(lead) = self.store.lead(lead_id).await? else { return Ok(()) };
            self.check_exits(&lead, now).await?;
            for c in self.acting() {
                self.sweep(c, now, Some(lead.id), None).await?;
            }
            Ok::<(), EngineError>(())
        };
        followed.await.map_err(|e| EngineError::Saved(e.to_string()))
    }

    /// End the lead's active enrolments whose exit rules now apply.
    pub(super) async fn check_exits(&self, lead: &Lead, now: DateTime<Utc>) -> Result<()> {
        let active = self.store.active_enrolments(lead.id).await?;
        if active.is_empty() {
            return Ok(());
        }
        let suppressed = self.store.is_suppressed(&lead.email).await?;
        for d in active {
            let Some(c) = self.defs.campaign(&d.campaign) else { continue };
            if let Some(reason) = self.exit_reason(c, lead, &d, suppressed) {
                self.exit(c, &d, lead, &reason, now).await?;
            }
        }
        Ok(())
    }
}
