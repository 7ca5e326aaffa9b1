//! Carrying out one due step: exit checks, the window and the caps, then
//! the email (recorded before it is handed to the mailer, and after).

use chrono::{DateTime, Utc};

use super::events::Kind as Ev;
use super::guard::Rate;
use super::{Engine, EngineError, Event, Result};
use crate::campaign::{Action, Campaign, Step};
use crate::lead::Lead;
use crate::mail::{Outgoing, SendError};
use crate::schedule;
use crate::store::{Due, Finish, Kind, Next, Outcome, State};

impl Engine {
    /// `sent`: the lead's marketing emails within the caps' look-back; a
    /// sent email is added to it, for the lead's next step.
    pub(super) async fn run_step(
        &self,
        d: Due,
        lead: Lead,
        suppressed: bool,
        sent: &mut Vec<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(c) = self.defs.campaign(&d.campaign) else { return Ok(()) };
        if let Some(reason) = self.exit_reason(c, &lead, &d, suppressed) {
            return self.exit(c, &d, &lead, &reason, now).await;
        }
        // Out of office (an automatic reply): the step waits for the
        // return date, then for the window and caps as usual.
        match lead.paused_until {
            Some(until) if until > now => {
                self.store.reschedule(d.enrolment_id, until).await?;
                self.moved();
                return Ok(());
            }
            Some(_) if self.store.resume_lead(lead.id).await? => {
                self.emit(Event::new(now, Ev::Resumed).for_lead(&lead));
            }
            _ => {}
        }
        let Some(index) = c.steps.iter().position(|s| s.id == d.step_id) else {
            return self.exit(c, &d, &lead, "step removed from the campaign", now).await;
        };
        let step = &c.steps[index];
        let tz = c.window.zone_for(&lead, self.defs.config.timezone);
        let window = &c.window.window;
        let allowed = match &step.action {
            Action::Email { .. } => {
                let caps = &self.defs.config.policy.caps;
                schedule::email_time(now, window, tz, caps, sent)
            }
            Action::Task { .. } => window.next_open(now, tz),
        };
        match allowed {
            Some(at) if at > now => {
                self.store.reschedule(d.enrolment_id, at).await?;
                self.moved();
                return Ok(());
            }
            Some(_) => {}
            None => return self.exit(c, &d, &lead, "the send window never opens", now).await,
        }
        let next = match c.steps.get(index + 1) {
            Some(n) => {
                let due = now + n.after;
                Next::Step { step_id: n.id.clone(), due_at: window.next_open(due, tz).unwrap_or(due) }
            }
            None => Next::Done,
        };
        let ended = match &step.action {
            Action::Email { .. } => {
                let (ended, went) = self.send_email(c, step, &lead, &d, &next, now).await?;
                if went {
                    sent.push(now);
                }
                ended
            }
            Action::Task { .. } => self.create_task(c, step, &lead, &d, &next, now).await?,
        };
        if let Some(reason) = ended {
            self.emit(Event::new(now, Ev::Exited).campaign(&c.id).for_lead(&lead).reason(reason));
        }
        Ok(())
    }

    /// Why `lead` must leave this enrolment now, if it must.
    pub(super) fn exit_reason(&self, c: &Campaign, lead: &Lead, d: &Due, suppressed: bool) -> Option<String> {
        if let Some(r) = c.exit_reason(lead) {
            return Some(r);
        }
        if c.exit.on_reply && lead.replied_at.is_some_and(|r| r >= d.enrolled_at) {
            return Some("replied".into());
        }
        suppressed.then(|| "suppressed".into())
    }

    /// End an enrolment; its remaining steps are recorded as cancelled.
    pub(super) async fn exit(
        &self,
        c: &Campaign,
        d: &Due,
        lead: &Lead,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let from = c.steps.iter().position(|s| s.id == d.step_id).unwrap_or(c.steps.len());
        let cancelled: Vec<(String, Kind)> = c.steps[from..].iter().map(|s| (s.id.clone(), step_kind(s))).collect();
        self.store.end_enrolment(d, reason, &cancelled, now).await?;
        self.emit(Event::new(now, Ev::Exited).campaign(&c.id).for_lead(lead).reason(reason));
        Ok(())
    }

    /// Record the outcome and advance the enrolment; reports a step that
    /// was not carried out. Returns why the enrolment ended, if it did.
    pub(super) async fn finish(
        &self,
        id: Option<i64>,
        c: &Campaign,
        d: &Due,
        lead: &Lead,
        outcome: Outcome,
        next: &Next,
    ) -> Result<Ended> {
        let bounced = outcome.state == State::Bounced;
        let at = outcome.at;
        let skipped = (outcome.state != State::Sent).then(|| format!("{}: {}", outcome.state.as_str(), outcome.reason));
        // An email attempted holds a send slot until this is written.
        let email = c.steps.iter().find(|s| s.id == d.step_id).is_some_and(|s| step_kind(s) == Kind::Email);
        let f = Finish { delivery_id: id, due: d.clone(), outcome, next: next.clone() };
        self.record(f, id.is_some() && email).await?;
        if let Some(why) = skipped {
            let e = Event::new(at, Ev::Skipped).campaign(&c.id).step(&d.step_id).for_lead(lead);
            self.emit(e.reason(&why));
        }
        match next {
            // The address is gone: the steps left are recorded as cancelled.
            Next::Step { step_id, due_at } if bounced => {
                let rest = Due { step_id: step_id.clone(), due_at: *due_at, ..d.clone() };
                self.exit(c, &rest, lead, "bounced", at).await?;
                // The address is suppressed: every other campaign ends now too.
                self.check_exits(lead, at).await?;
                Ok(None)
            }
            Next::Done if bounced => {
                self.check_exits(lead, at).await?;
                Ok(Some("bounced"))
            }
            Next::Done => Ok(Some("completed")),
            Next::Step { .. } => Ok(None),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_email(
        &self,
        c: &Campaign,
        step: &Step,
        lead: &Lead,
        d: &Due,
        next: &Next,
        now: DateTime<Utc>,
    ) -> Result<(Ended, bool)> {
        let not_sent = |ended: Result<Ended>| ended.map(|e| (e, false));
        // While the server is known down, or once the engine stops, the
        // step is not attempted: it stays due and spends no retry.
        if self.campaign_paused(&c.id) || !self.mailer.available().await || !self.paced().await {
            return Ok((None, false));
        }
        // Rendered before a send slot is taken (the text needs no delivery
        // id; only the Message-ID does), so the slot is held for the send
        // and its two writes only.
        let unsubscribe = self.links.unsubscribe_url(lead.id);
        let data = self.defs.email_data(c, step, lead, &unsubscribe, now);
        // The lead's variant (README, *A/B tests*): the winner once there
        // is one, else the stable hash; a step without variants has its one form.
        let winner = self.winner(&c.id, &step.id);
        let variant = step.variant_for(&c.id, &lead.email, winner.as_deref());
        let Some(form) = step.form(&c.id, variant) else { return Ok((None, false)) };
        let rendered = self.defs.templates.render_email(form.template, &form.subject, &data);
        // The attempt waits for a send slot, held until the outcome is
        // recorded: a crash or a database outage can then leave at most
        // `pool_size` steps without one (the bound on `uncertain`).
        let begun = match self.begin(d, Kind::Email, now).await {
            Err(EngineError::Stopped) => return Ok((None, false)),
            other => other?,
        };
        let Some((id, attempt)) = begun else {
            if self.refused_by_pause(c).await? {
                return Ok((None, false));
            }
            // Attempted before (a crash or another replica): never twice.
            return not_sent(self.finish(None, c, d, lead, outcome(State::Uncertain, ATTEMPTED, "", now), next).await);
        };
        // Given back if the step ends without an outcome written (a retry
        // scheduled, an error); an outcome written gives it back itself.
        let slot = Held(Some(&self.writes));
        let email = match rendered {
            // Links are tracked and answers signed now that the email has
            // its id (a string pass: the slot waits no query for it).
            Ok(e) => {
                let track = c.track_links.unwrap_or(self.defs.config.tracking.links);
                crate::tracking::finish(e, id, lead.id, &self.links, track)
            }
            Err(e) => {
                let failed =
                    Outcome { variant: form.variant.to_string(), ..outcome(State::Failed, &e.to_string(), "", now) };
                slot.disarm();
                return not_sent(self.finish(Some(id), c, d, lead, failed, next).await);
            }
        };
        let mail = &self.defs.config.mail;
        let domain = mail.from.email.domain();
        let message = Outgoing {
            to: lead.email.clone(),
            subject: email.subject.clone(),
            text: email.text,
            html: email.html,
            unsubscribe_url: Some(unsubscribe),
            message_id: Some(self.links.message_id(id, domain)),
            envelope_from: mail.return_path.as_ref().map(|rp| self.links.return_path(id, rp)),
            list_id: Some(list_id(c, domain)),
        };
        let (result, elapsed) = self.send(&message).await;
        // Every outcome from here on names the message handed over.
        let handed = |state, reason: &str, at| Outcome {
            message_id: message.message_id.clone().unwrap_or_default(),
            variant: form.variant.to_string(),
            ..outcome(state, reason, &message.subject, at)
        };
        match result {
            Ok(()) => {
                let e = Event::new(now, Ev::Email).campaign(&c.id).step(&step.id).for_lead(lead);
                self.emit(e.subject(&message.subject).variant(form.variant).elapsed(elapsed));
                slot.disarm();
                let ended = self.finish(Some(id), c, d, lead, handed(State::Sent, "", now), next);
                ended.await.map(|e| (e, true))
            }
            Err(SendError::Unknown(why)) => {
                // Never resent: the server may have it (see SendError::Unknown).
                let unknown = handed(State::Uncertain, &why, now);
                slot.disarm();
                not_sent(self.finish(Some(id), c, d, lead, unknown, next).await)
            }
            Err(SendError::Unbuildable(why)) => {
                // Ours to fix (intake refuses such addresses; an older row
                // may hold one): never a bounce, never a guardrail's count.
                tracing::error!(
                    campaign = c.id,
                    step = step.id,
                    lead_id = lead.id,
                    reason = why,
                    "nurture could not build this message; the step failed (the lead is not suppressed)."
                );
                let failed = outcome(State::Failed, &why, &message.subject, now);
                slot.disarm();
                not_sent(self.finish(Some(id), c, d, lead, failed, next).await)
            }
            Err(SendError::Bounce(why)) => {
                self.store.suppress(&lead.email, &format!("bounced: {why}"), crate::store::Source::Engine, now).await?;
                let bounced = handed(State::Bounced, &why, now);
                slot.disarm();
                let ended = self.finish(Some(id), c, d, lead, bounced, next).await;
                self.check_rate(Rate::Bounce, c, now).await?;
                not_sent(ended)
            }
            Err(SendError::Refused(why)) => {
                // Every send would meet this: all sending pauses; the step
                // waits for the resume, due at once, its lead not at fault.
                tracing::error!(
                    campaign = c.id,
                    step = step.id,
                    lead_id = lead.id,
                    reason = why,
                    "SMTP refused our sending."
                );
                self.store.retry_later(id, d, &why, now).await?;
                let reason = format!("the SMTP server refused our sending: {why}");
                self.pause(crate::store::pauses::ALL, &reason, "guardrail", now).await?;
                Ok((None, false))
            }
            Err(ref e @ (SendError::Retry(ref why) | SendError::Unreachable(ref why) | SendError::Halt(ref why))) => {
                let halt = matches!(e, SendError::Halt(_));
                if halt {
                    // Our side is refused (auth, policy): the lead is not at
                    // fault, so it is retried, but ops must look now.
                    tracing::error!(
                        campaign = c.id,
                        step = step.id,
                        lead_id = lead.id,
                        reason = why,
                        "SMTP refused our message: check credentials and sending policy."
                    );
                }
                let retry = &self.defs.config.policy.retry;
                match retry.get(attempt.max(1) as usize - 1) {
                    Some(wait) => {
                        crate::telemetry::count(crate::telemetry::Counter::Retries, None, 1);
                        tracing::warn!(
                            campaign = c.id,
                            step = step.id,
                            lead_id = lead.id,
                            reason = why,
                            attempt,
                            duration_ms = crate::telemetry::ms(elapsed),
                            "Temporary failure; will retry."
                        );
                        self.store.retry_later(id, d, why, now + *wait).await?;
                        Ok((None, false))
                    }
                    None => {
                        let why = format!("gave up after {attempt} attempts: {why}");
                        let failed = handed(State::Failed, &why, now);
                        slot.disarm();
                        not_sent(self.finish(Some(id), c, d, lead, failed, next).await)
                    }
                }
            }
        }
    }
}

impl Engine {
    /// Whether an attempt the database refused was refused for a pause
    /// (the step then waits) rather than found attempted before.
    pub(super) async fn refused_by_pause(&self, c: &Campaign) -> Result<bool> {
        self.refresh_pauses().await?;
        Ok(self.campaign_paused(&c.id))
    }
}

/// A send slot held by a step, given back when dropped unless the step's
/// outcome is about to be written (which gives it back in its write).
struct Held<'a>(Option<&'a super::group::Group<super::Write, Option<(i64, i64)>>>);

impl Held<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(writes) = self.0 {
            writes.release();
        }
    }
}

/// Why an enrolment ended with this step ("completed", "bounced"), if it did.
pub(super) type Ended = Option<&'static str>;

/// A step found already attempted: recorded as uncertain, never repeated.
pub(super) const ATTEMPTED: &str = "attempted before (crash or another replica); not repeated";

pub(super) fn outcome(state: State, reason: &str, subject: &str, at: DateTime<Utc>) -> Outcome {
    Outcome {
        state,
        reason: reason.to_string(),
        subject: subject.to_string(),
        at,
        message_id: String::new(),
        variant: String::new(),
    }
}

fn step_kind(s: &Step) -> Kind {
    match s.action {
        Action::Email { .. } => Kind::Email,
        Action::Task { .. } => Kind::Task,
    }
}

/// RFC 2919: one list per campaign, named by its id under the sender's
/// domain (an id is letters, digits, `-` and `_`, all allowed there).
fn list_id(c: &Campaign, domain: &str) -> String {
    let name: String = c.name.chars().filter(|ch| !ch.is_control() && !"<>\"\\".contains(*ch)).collect();
    format!("\"{}\" <{}.{domain}>", name.trim(), c.id.to_ascii_lowercase().replace('_', "-"))
}
