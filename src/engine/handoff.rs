//! Readiness: score a lead when a signal asks for it, hand a ready lead to
//! a rep in one transaction and email the rep at once with why; escalate a
//! hand-off not done in time (README, *Readiness and hand-off*).

use chrono::{DateTime, Utc};

use super::events::Kind as Ev;
use super::{Engine, Event, Result};
use crate::campaign::Assign;
use crate::lead::Lead;
use crate::mail::Outgoing;
use crate::score::{self, Score};
use crate::store::{BURST, HandedOff, NewHandoff};
use crate::template::context::{self, WhyLine};

/// Leads scored per tick at most; the rest wait for the next one.
const CHECKS_PER_TICK: i64 = 500;

impl Engine {
    /// Every readiness check due by `now`, then the escalations due.
    pub(super) async fn readiness(&self, now: DateTime<Utc>) -> Result<()> {
        for (lead_id, asked) in self.store.due_checks(now, CHECKS_PER_TICK).await? {
            if self.is_stopping() {
                break;
            }
            self.check_readiness(lead_id, asked, now).await?;
        }
        self.escalate(now).await
    }

    /// The lead's score at `now`, counting only what came after its last
    /// hand-off, and the time a signal not yet counted (a click whose
    /// burst is not over) will count.
    pub async fn score(&self, lead_id: i64, now: DateTime<Utc>) -> Result<(Score, Option<DateTime<Utc>>)> {
        let since = self.store.last_handoff(lead_id).await?;
        let from = since.map_or(DateTime::<Utc>::UNIX_EPOCH, |s| s - BURST);
        let mut signals = self.store.signals(lead_id, from).await?;
        signals.retain(|s| since.is_none_or(|t| score::counts_from(s) > t) && s.at <= now);
        let pending = signals.iter().map(score::counts_from).filter(|t| *t > now).min();
        let c = &self.defs.config;
        Ok((score::score(&signals, &c.scoring, &c.answers, now), pending))
    }

    /// Look at the lead's readiness now (an answer asks for a rep).
    pub(super) async fn check_now(&self, lead_id: i64, now: DateTime<Utc>) -> Result<()> {
        self.check_readiness(lead_id, now, now).await
    }

    /// Look at one lead's readiness (asked for at `asked`) and hand it over
    /// if it is ready and may be.
    async fn check_readiness(&self, lead_id: i64, asked: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        let Some(lead) = self.store.lead(lead_id).await? else {
            return Ok(self.store.checked(lead_id, asked, None).await?);
        };
        let (score, pending) = self.score(lead_id, now).await?;
        if score.ready(&self.defs.config.handoff) && self.may_hand_off(&lead) {
            self.hand_off(&lead, &score, now).await?;
        }
        Ok(self.store.checked(lead_id, asked, pending).await?)
    }

    /// Not when it is in the hand-off status already, or in a goal status
    /// of the report (`won`): ready once, until someone sends it back.
    fn may_hand_off(&self, lead: &Lead) -> bool {
        let c = &self.defs.config;
        lead.status != c.handoff.status && !c.report.goal.contains(&lead.status)
    }

    async fn hand_off(&self, lead: &Lead, score: &Score, now: DateTime<Utc>) -> Result<Option<HandedOff>> {
        let c = &self.defs.config;
        let rep = self.assignee(&Assign::Owner, lead, now).await?;
        let why = score.why();
        let data = context::handoff_task(lead, &why, score.total, &self.defs.templates.attribute_refs);
        let task = match self.defs.templates.render_text(crate::config::readiness::HANDOFF_TASK, &data) {
            Ok(t) => t.split_whitespace().collect::<Vec<_>>().join(" "),
            Err(e) => {
                tracing::warn!(lead_id = lead.id, error = %e.diagnostic, "[handoff] task failed to render; using why.");
                why.clone()
            }
        };
        let decided = score.answer.clone().or_else(|| {
            score.parts.iter().filter(|p| p.delivery_id.is_some()).max_by(|a, b| a.now.total_cmp(&b.now)).cloned()
        });
        let new = NewHandoff {
            lead_id: lead.id,
            from: lead.status.clone(),
            status: c.handoff.status.clone(),
            rep: rep.as_ref().map(|r| r.email.clone()).unwrap_or_default(),
            why: why.clone(),
            score: score.total,
            task: task.clone(),
            due_at: self.due_at(rep.as_ref(), now),
            at: now,
            delivery_id: decided.and_then(|p| p.delivery_id),
        };
        let Some(done) = self.store.hand_off(&new).await? else { return Ok(None) };
        let mut e = Event::new(now, Ev::Handoff).for_lead(lead).reason(&why);
        if !done.campaign.is_empty() {
            e = e.campaign(&done.campaign).step(&done.step_id);
        }
        if let Some(r) = &rep {
            e = e.to(&r.email);
        }
        self.emit(e);
        self.follow(lead.id, now).await?;
        match rep {
            Some(rep) => self.tell_rep(lead, score, &rep, &new, done.task_id, now).await?,
            None => {
                tracing::warn!(lead_id = lead.id, "A lead is ready but has no owner and no reps_file: nobody told.")
            }
        }
        Ok(Some(done))
    }

    /// `[handoff] due` after `now`, counted in the rep's working hours
    /// (every hour when the reps file gives none).
    fn due_at(&self, rep: Option<&crate::config::Rep>, now: DateTime<Utc>) -> DateTime<Utc> {
        let due = self.defs.config.handoff.due;
        let Some((rep, hours)) = rep.and_then(|r| r.hours.as_ref().map(|h| (r, h))) else { return now + due };
        hours.after_open(now, self.rep_zone(&rep.email), due).unwrap_or(now + due)
    }

    /// The rep's email, at once (not in the digest): who, why now, by when.
    async fn tell_rep(
        &self,
        lead: &Lead,
        score: &Score,
        rep: &crate::config::Rep,
        h: &NewHandoff,
        task_id: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let zone = self.rep_zone(&rep.email);
        let mut signals = Vec::new();
        for p in score.parts.iter().filter(|p| p.now > 0.0 || p.kind == "answer") {
            let email = match p.delivery_id {
                Some(d) => self.store.delivery_subject(d).await?.unwrap_or_default(),
                None => String::new(),
            };
            signals.push(WhyLine {
                at: context::rfc3339(p.at),
                when: context::local_time(p.at, zone),
                what: p.describe(),
                email,
                points: p.now.round() as i64,
            });
        }
        let history: Vec<context::HistoryLine> =
            self.store.history(lead.id, 10).await?.iter().map(|t| context::HistoryLine::new(t, zone)).collect();
        let done_url = self.links.task_done_url(task_id);
        let input = context::HandoffInput {
            rep,
            text: &h.task,
            due_at: h.due_at,
            lead,
            why: &h.why,
            score: h.score,
            signals: &signals,
            history: &history,
            done_url: &done_url,
            now,
            zone,
        };
        let data = context::handoff(&input, &self.defs.templates.attribute_refs);
        let base = Event::new(now, Ev::Reminder).for_lead(lead).to(&rep.email);
        let Ok((subject, text, html)) = self.defs.templates.render_rep_email("reminders/handoff", &data) else {
            self.emit(Event { event: Ev::Skipped, ..base }.reason("hand-off email failed to render; the task stands"));
            return Ok(());
        };
        let message = Outgoing { to: rep.email.clone(), subject, text, html: Some(html), ..Default::default() };
        self.turn().await;
        let (result, elapsed) = self.send(&message).await;
        let base = base.elapsed(elapsed);
        match result {
            Ok(()) => self.emit(base.subject(&message.subject)),
            Err(e) => self.emit(Event { event: Ev::Skipped, ..base }.reason(&format!("hand-off email not sent: {e}"))),
        }
        Ok(())
    }

    /// Hand-offs whose task is not done `escalate_after` later: told to
    /// `escalate_to` once (each taken by one replica).
    async fn escalate(&self, now: DateTime<Utc>) -> Result<()> {
        let h = &self.defs.config.handoff;
        let Some(to) = h.escalate_to.clone() else { return Ok(()) };
        for o in self.store.take_overdue_handoffs(now - h.escalate_after, now).await? {
            let Some(lead) = self.store.lead(o.lead_id).await? else { continue };
            let zone = self.rep_zone(&to);
            let who = lead.display_name();
            let text = format!(
                "{who} was handed to {rep} at {at} ({why}) and the task is not done yet.\n\n\
                 Email: {email}\nPhone: {phone}\nDone? Mark it here: {url}\n",
                rep = o.rep,
                at = context::local_time(o.at, zone),
                why = o.why,
                email = lead.email,
                phone = lead.phone,
                url = self.links.task_done_url(o.task_id),
            );
            let subject = format!("Not called yet: {who} (ready since {})", context::local_time(o.at, zone));
            let message = Outgoing { to: to.clone(), subject, text, ..Default::default() };
            let base = Event::new(now, Ev::Escalated).for_lead(&lead).to(&to).reason(&o.why);
            self.turn().await;
            let (result, elapsed) = self.send(&message).await;
            match result {
                Ok(()) => self.emit(base.elapsed(elapsed)),
                Err(e) => self.emit(Event { event: Ev::Skipped, ..base }.reason(&format!("escalation not sent: {e}"))),
            }
        }
        Ok(())
    }
}
