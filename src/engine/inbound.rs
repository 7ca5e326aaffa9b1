//! Applying one inbound message: find its lead and delivery (signed return
//! path, then `In-Reply-To`/`References`, then our signed tokens in the
//! text it carries, then the sender), then do what its kind means (README,
//! *Inbound mail*). Each message is marked in the database first and
//! finished last, so a crash in between applies it again (every effect is
//! idempotent; the rep's reply notice may then go twice, never zero times).

use chrono::{DateTime, FixedOffset, TimeDelta, TimeZone, Utc};
use serde::Serialize;

use super::events::Kind as Ev;
use super::guard::Rate;
use super::{Engine, Event, Result};
use crate::inbound::{self, Inbound, Kind, Severity, Verdict};
use crate::lead::Lead;
use crate::mail::Outgoing;
use crate::store::{Handled, Mark, Sent, Source};
use crate::telemetry;

/// Soft bounces within this many days that suppress an address.
const SOFT_BOUNCES: i64 = 3;
const SOFT_WINDOW_DAYS: i64 = 30;

/// What `nurture inbound` prints (SPEC §7), one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    pub kind: Kind,
    pub lead: Option<String>,
    pub campaign: Option<String>,
    pub step: Option<String>,
    /// `auto_reply`: the steps wait until then (RFC 3339, the lead's zone).
    pub until: Option<String>,
    /// Bounces: `hard`, `soft` or `refused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// A bounce's reason (Sisimai's names), or why a message was left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Handled before (the same message again): nothing was done now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Engine {
    /// Classify and apply one message received at `now`.
    pub async fn inbound(&self, raw: &[u8], now: DateTime<Utc>) -> Result<Applied> {
        let msg = inbound::classify(raw, now);
        let mark = self.store.begin_inbound(&msg.key, now).await?;
        let (lead, sent) = self.match_message(&msg).await?;
        let mut applied = Applied {
            kind: msg.verdict.kind(),
            lead: lead.as_ref().map(|l| l.email.clone()),
            campaign: sent.as_ref().map(|s| s.campaign.clone()),
            step: sent.as_ref().map(|s| s.step_id.clone()),
            until: None,
            severity: None,
            reason: None,
            duplicate: mark == Mark::Done,
        };
        if let Verdict::Bounce(b) = &msg.verdict {
            applied.severity = Some(b.severity);
            applied.reason = Some(b.reason.to_string());
        }
        if let Verdict::Machine(why) = &msg.verdict {
            applied.reason = Some((*why).to_string());
        }
        if let Verdict::Unsubscribe { why, .. } = &msg.verdict {
            applied.reason = Some((*why).to_string());
        }
        if let Verdict::Delivered = &msg.verdict {
            applied.reason = Some("a delivery success report".into());
        }
        // The kind is what the message is, matched or not (`lead` is null
        // when no lead was found): a classifier is judged on its own.
        if lead.is_none() && applied.reason.is_none() {
            applied.reason = Some("matched no lead: left alone".into());
        }
        let mut handled = Handled {
            key: msg.key.clone(),
            kind: applied.kind.as_str().to_string(),
            detail: String::new(),
            severity: applied.severity.map(|s| s.as_str().to_string()).unwrap_or_default(),
            lead_id: lead.as_ref().map(|l| l.id),
            delivery_id: sent.as_ref().map(|s| s.delivery_id),
            campaign: applied.campaign.clone(),
            step_id: applied.step.clone(),
            until: None,
            at: now,
        };
        if mark == Mark::Done {
            return Ok(applied);
        }
        match &lead {
            Some(lead) => self.apply(&msg, lead, sent.as_ref(), &mut applied, &mut handled, now).await?,
            None => tracing::info!(
                kind = applied.kind.as_str(),
                reason = applied.reason.as_deref(),
                "Inbound message matched no lead; left alone."
            ),
        }
        telemetry::inbound(applied.kind.as_str());
        self.store.finish_inbound(&handled).await?;
        // After the message is stored, so that its guardrail counts it.
        let rate = match &msg.verdict {
            Verdict::Bounce(_) => Some(Rate::Bounce),
            Verdict::Complaint { .. } => Some(Rate::Complaint),
            _ => None,
        };
        if lead.is_some()
            && let Some(rate) = rate
            && let Some(c) = sent.as_ref().and_then(|s| self.defs.campaign(&s.campaign))
        {
            self.check_rate(rate, c, now).await?;
        }
        Ok(applied)
    }

    /// The lead and delivery a message is about, in the README's order.
    async fn match_message(&self, msg: &Inbound) -> Result<(Option<Lead>, Option<Sent>)> {
        let links = &self.links;
        let (recipients, references) = (msg.recipients.join(" "), msg.references.join(" "));
        for text in [&recipients, &references, &msg.scan] {
            for id in links.deliveries_in(text) {
                if let Some(sent) = self.store.sent_delivery(id).await?
                    && let Some(lead) = self.store.lead(sent.lead_id).await?
                {
                    return Ok((Some(lead), Some(sent)));
                }
            }
        }
        let address = match &msg.verdict {
            Verdict::Reply { .. } | Verdict::Unsubscribe { .. } | Verdict::AutoReply { .. } => msg.from.clone(),
            // A report names a failed recipient anyone could write: only
            // trusted while no signed return path is in use.
            Verdict::Bounce(b) if self.defs.config.mail.return_path.is_none() => b.recipient.clone(),
            Verdict::Complaint { recipient, .. } if self.defs.config.mail.return_path.is_none() => recipient.clone(),
            _ => None,
        };
        let mut lead = match address {
            Some(a) => self.store.lead_by_email(&a).await?,
            None => None,
        };
        if lead.is_none()
            && matches!(
                msg.verdict,
                Verdict::Reply { .. }
                    | Verdict::Unsubscribe { .. }
                    | Verdict::AutoReply { .. }
                    | Verdict::Complaint { .. }
            )
        {
            // A reply from another address of the lead quotes our email,
            // and with it its signed unsubscribe link.
            for id in links.unsubscribed_leads_in(&msg.scan) {
                if let Some(l) = self.store.lead(id).await? {
                    lead = Some(l);
                    break;
                }
            }
        }
        let sent = match &lead {
            Some(l) => self.store.last_delivery(l.id).await?,
            None => None,
        };
        Ok((lead, sent))
    }

    async fn apply(
        &self,
        msg: &Inbound,
        lead: &Lead,
        sent: Option<&Sent>,
        applied: &mut Applied,
        handled: &mut Handled,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let event = |kind| {
            let mut e = Event::new(now, kind).for_lead(lead);
            if let Some(s) = sent {
                e = e.campaign(&s.campaign).step(&s.step_id);
            }
            e
        };
        match &msg.verdict {
            Verdict::Bounce(b) => {
                let why = format!("{} ({})", b.reason, b.diagnostic);
                handled.detail = why.clone();
                match b.severity {
                    Severity::Hard => {
                        if let Some(s) = sent {
                            self.store.bounce_delivery(s.delivery_id, &why, now).await?;
                        }
                        self.suppress(&lead.email, &format!("bounced: {why}"), Source::Inbound, now).await?;
                    }
                    Severity::Soft => {
                        let earlier = self.store.soft_bounces(lead.id, now - TimeDelta::days(SOFT_WINDOW_DAYS)).await?;
                        if earlier + 1 >= SOFT_BOUNCES {
                            let reason =
                                format!("{SOFT_BOUNCES} soft bounces in {SOFT_WINDOW_DAYS} days, the last: {why}");
                            self.suppress(&lead.email, &reason, Source::Inbound, now).await?;
                        }
                    }
                    Severity::Refused => {}
                }
                self.emit(event(Ev::Bounced).reason(&format!("{}: {why}", b.severity.as_str())));
            }
            Verdict::Complaint { feedback_type, .. } => {
                handled.detail = feedback_type.clone();
                self.suppress(&lead.email, &format!("complaint ({feedback_type})"), Source::Inbound, now).await?;
                self.emit(event(Ev::Complaint).reason(feedback_type));
            }
            Verdict::AutoReply { until } => {
                let zone = lead.timezone.unwrap_or(self.defs.config.timezone);
                let local = until
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .and_then(|t| zone.from_local_datetime(&t).earliest())
                    .map(|t| t.fixed_offset());
                // Capped from when nurture reads it: a stranger's reply
                // cannot pause a lead for years.
                let cap = (now + self.defs.config.inbound.ooo_max).with_timezone(&zone).fixed_offset();
                let (back, stated): (DateTime<FixedOffset>, _) = match local {
                    Some(t) if t > cap => (cap, "inbound.ooo_max: the return date it states is later"),
                    Some(t) if t.with_timezone(&Utc) > now => (t, "the return date it states"),
                    _ => {
                        let pause = (now + self.defs.config.inbound.ooo_pause).with_timezone(&zone).fixed_offset();
                        (pause.min(cap), "inbound.ooo_pause")
                    }
                };
                handled.detail = format!("out of office until {} ({stated})", back.to_rfc3339());
                handled.until = Some(back.with_timezone(&Utc));
                self.store.pause_lead(lead.id, back.with_timezone(&Utc), now).await?;
                applied.until = Some(back.to_rfc3339());
                self.emit(event(Ev::Paused).until(&back.to_rfc3339()).reason(stated));
            }
            Verdict::Reply { first_lines } => {
                handled.detail = first_lines.clone();
                self.store.record_reply(lead.id, Source::Inbound, now).await?;
                self.emit(event(Ev::Replied).to(&lead.owner));
                self.tell_owner(lead, msg, first_lines).await?;
                self.follow(lead.id, now).await?;
            }
            Verdict::Unsubscribe { why, first_lines } => {
                handled.detail = format!("{why}: {first_lines}");
                self.store.suppress(&lead.email, "unsubscribed (asked by email)", Source::Inbound, now).await?;
                self.emit(event(Ev::Replied).reason(why));
                self.follow(lead.id, now).await?;
            }
            Verdict::Delivered | Verdict::Machine(_) => {}
        }
        Ok(())
    }

    /// The lead's owner hears of a reply at once: who, to what, what they
    /// wrote, and what happened before.
    async fn tell_owner(&self, lead: &Lead, msg: &Inbound, first_lines: &str) -> Result<()> {
        if lead.owner.is_empty() {
            tracing::warn!(lead_id = lead.id, "A lead replied but has no owner to tell.");
            return Ok(());
        }
        let who = lead.display_name();
        let history = self.store.history(lead.id, 5).await?;
        let mut text = format!("{who} replied: \"{}\"\n\n", msg.subject);
        for line in first_lines.lines() {
            text += &format!("> {line}\n");
        }
        text += &format!(
            "\nReply to {}: mailto:{}\n",
            if lead.first_name.trim().is_empty() && lead.last_name.trim().is_empty() {
                "them"
            } else {
                &lead.first_name
            },
            lead.email
        );
        text += "Their campaigns with on_reply have ended; nothing more goes out to them from those.\n";
        if !history.is_empty() {
            text += "\nBefore this:\n";
            for t in &history {
                text += &format!(
                    "- {} {}/{} {} ({})\n",
                    crate::template::context::rfc3339(t.at),
                    t.campaign,
                    t.step,
                    t.kind,
                    t.state
                );
            }
        }
        let original = msg.subject.trim();
        let original = original.split_once(':').filter(|(p, _)| p.len() <= 4).map_or(original, |(_, s)| s.trim());
        let message = Outgoing {
            to: lead.owner.clone(),
            subject: format!("{who} replied to '{original}'"),
            text,
            ..Default::default()
        };
        self.turn().await;
        let (result, _) = self.send(&message).await;
        if let Err(e) = result {
            tracing::error!(lead_id = lead.id, to = lead.owner, reason = %e, "The reply notice to the owner was not sent.");
        }
        Ok(())
    }
}
