//! `nurture explain EMAIL`: the lead's timeline, and for each campaign why
//! it is in or out, and when its next step goes and what set that time.
//! Every answer comes from the rules the engine runs by: the audience's
//! [`Audience::why_not`](crate::campaign::Audience::why_not) (which is
//! what `matches` asks), the cron, and [`schedule::email_time`] with the
//! lead's recent emails, as `run_step` calls it; never a second copy.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::history::LeadView;
use super::{Engine, Result};
use crate::campaign::{Action, Campaign};
use crate::schedule;
use crate::store::Due;
use crate::template::context::rfc3339;

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    #[serde(flatten)]
    pub view: LeadView,
    pub campaigns: Vec<CampaignState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignState {
    pub campaign: String,
    /// `enrolled`, `not enrolled`, or `enters` (matches; the next sweep
    /// enrols it).
    pub state: String,
    /// Why it is out, or why it waits.
    pub why: Vec<String>,
    /// Until when the rule that keeps it out holds (or when it enters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// When the next step is due by the campaign (`after`, stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// When it will actually go: pause, caps and window applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goes_at: Option<String>,
}

impl Engine {
    /// `None`: no such lead. Only `campaign` when given.
    pub async fn explain(
        &self,
        email: &str,
        campaign: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Explanation>> {
        let Some(view) = self.lead_view(email, now).await? else { return Ok(None) };
        let lead = &view.lead;
        let active = self.store.active_enrolments(lead.id).await?;
        let ended = self.store.ended_enrolments(lead.id).await?;
        let pauses = self.store.pauses().await?;
        let mut campaigns = Vec::new();
        for c in self.defs.campaigns.iter().filter(|c| campaign.is_none_or(|w| w == c.id)) {
            let paused = pauses.iter().find(|p| p.scope == c.id || p.scope == crate::store::pauses::ALL);
            let mut state = match active.iter().find(|d| d.campaign == c.id) {
                Some(d) => self.enrolled(c, lead, d, view.suppressed, now).await?,
                None => self.outside(c, lead, &ended, view.suppressed, now),
            };
            if !c.enabled {
                state.why.insert(0, "the campaign is disabled (enabled = false): it enrols and sends nothing".into());
                state.goes_at = None;
            } else if let Some(p) = paused {
                let what = if p.scope == c.id { "the campaign" } else { "all sending" };
                state.why.insert(
                    0,
                    format!(
                        "{what} is paused since {} by {} ({}); `nurture campaigns resume {}` lifts it",
                        rfc3339(p.at),
                        p.by,
                        p.reason,
                        p.scope
                    ),
                );
                state.goes_at = None;
            }
            campaigns.push(state);
        }
        Ok(Some(Explanation { view, campaigns }))
    }

    /// An active enrolment: its next step, and each thing that set its time.
    async fn enrolled(
        &self,
        c: &Campaign,
        lead: &crate::lead::Lead,
        d: &Due,
        suppressed: bool,
        now: DateTime<Utc>,
    ) -> Result<CampaignState> {
        let mut why = Vec::new();
        let step = c.step(&d.step_id);
        if let Some(reason) = self.exit_reason(c, lead, d, suppressed) {
            why.push(format!("leaves at its next step: {reason}"));
        }
        let index = c.steps.iter().position(|s| s.id == d.step_id);
        let tz = c.window.zone_for(lead, self.defs.config.timezone);
        let window = &c.window.window;
        why.push(match (index, step) {
            (Some(0), _) if d.due_at > d.enrolled_at && !window.is_open(d.enrolled_at, tz) => format!(
                "due {}: the first step, at the send window's first opening ({}) after enrolment at {}",
                rfc3339(d.due_at),
                tz.name(),
                rfc3339(d.enrolled_at)
            ),
            (Some(0), _) => format!("due {}: the first step, at enrolment", rfc3339(d.due_at)),
            (Some(_), Some(s)) => format!(
                "due {}: {} after the previous step, then the window",
                rfc3339(d.due_at),
                crate::duration::format(s.after)
            ),
            _ => "its step was removed from the campaign: the enrolment ends at the next tick".into(),
        });
        // The variant it goes out as: the one `run_step` will pick.
        if let Some(s) = step.filter(|s| !s.variants.is_empty()) {
            self.refresh_tests().await?;
            let winner = self.winner(&c.id, &s.id);
            if let Some(v) = s.variant_for(&c.id, &lead.email, winner.as_deref()) {
                why.push(match winner.as_deref() == Some(v.id.as_str()) {
                    true => format!("goes out as variant {}: the A/B test's winner", v.id),
                    false => format!("goes out as variant {}: the share its address falls in, by weight", v.id),
                });
            }
        }
        if let Some((state, attempts, reason)) = self.store.step_delivery(d.enrolment_id, &d.step_id).await?
            && state == "retrying"
        {
            why.push(format!("a retry after a temporary failure (attempt {attempts}: {reason})"));
        }
        let mut base = d.due_at;
        if let Some(until) = lead.paused_until.filter(|u| *u >= base && *u > now) {
            why.push(format!("out of office until {} (an automatic reply)", rfc3339(until)));
            base = until;
        }
        let goes = match step.map(|s| &s.action) {
            Some(Action::Email { .. }) => {
                let caps = &self.defs.config.policy.caps;
                let sent = self
                    .store
                    .recent_emails_of(&[lead.id], base - caps.per.max(caps.min_gap))
                    .await?
                    .remove(&lead.id)
                    .unwrap_or_default();
                let allowed = caps.earliest_allowed(base, &sent);
                if allowed > base {
                    let last = sent.iter().max().copied();
                    match last.filter(|l| *l + caps.min_gap > base) {
                        Some(l) => why.push(format!(
                            "min_gap: the last email went at {}, so not before {}",
                            rfc3339(l),
                            rfc3339(allowed)
                        )),
                        None => why.push(format!(
                            "max_emails: {} emails in any {} already, so not before {}",
                            caps.max,
                            crate::duration::format(caps.per),
                            rfc3339(allowed)
                        )),
                    }
                }
                let open = window.next_open(allowed, tz);
                if let Some(o) = open.filter(|o| *o > allowed) {
                    why.push(format!("the send window opens at {} ({})", rfc3339(o), tz.name()));
                }
                schedule::email_time(base, window, tz, caps, &sent)
            }
            Some(Action::Task { .. }) => {
                let open = window.next_open(base, tz);
                if let Some(o) = open.filter(|o| *o > base) {
                    why.push(format!("the send window opens at {} ({})", rfc3339(o), tz.name()));
                }
                open
            }
            None => None,
        };
        // Overdue work goes at the next tick.
        let goes = goes.map(|g| g.max(now));
        Ok(CampaignState {
            campaign: c.id.clone(),
            state: "enrolled".into(),
            why,
            until: None,
            next_step: Some(d.step_id.clone()),
            due_at: Some(rfc3339(d.due_at)),
            goes_at: goes.map(rfc3339),
        })
    }

    /// Not enrolled: the rule that keeps it out and until when, or when
    /// the next sweep takes it in.
    fn outside(
        &self,
        c: &Campaign,
        lead: &crate::lead::Lead,
        ended: &[(String, DateTime<Utc>, String)],
        suppressed: bool,
        now: DateTime<Utc>,
    ) -> CampaignState {
        let mut s = CampaignState {
            campaign: c.id.clone(),
            state: "not enrolled".into(),
            why: Vec::new(),
            until: None,
            next_step: None,
            due_at: None,
            goes_at: None,
        };
        let sweep_after = |t: DateTime<Utc>| c.enrol.cron.next_after(t, c.enrol.timezone);
        if suppressed {
            s.why.push("the address is suppressed: no marketing email, no campaign".into());
            return s;
        }
        if let Some(out) = c.audience.why_not(lead, now) {
            s.why.push(out.to_string());
            if let crate::campaign::Outside::TooRecent { from } = out {
                let enters = sweep_after(from - chrono::TimeDelta::seconds(1));
                s.until = enters.map(rfc3339);
                if let Some(t) = enters {
                    s.why.push(format!("enters at the first sweep after that: {}", rfc3339(t)));
                }
            }
            return s;
        }
        if let Some((_, at, reason)) = ended.iter().find(|(id, _, _)| *id == c.id) {
            let went = format!("went through it: ended {} ({reason})", rfc3339(*at));
            match c.enrol.again_after {
                None => {
                    s.why.push(format!("{went}; without again_after a lead enters once"));
                    return s;
                }
                Some(gap) if *at + gap > now => {
                    s.why.push(format!("{went}; again_after lets it back from {}", rfc3339(*at + gap)));
                    s.until = sweep_after(*at + gap - chrono::TimeDelta::seconds(1)).map(rfc3339);
                    return s;
                }
                Some(_) => {}
            }
        }
        s.state = "enters".into();
        let next = sweep_after(now);
        s.why.push(match next {
            Some(t) => format!("matches the audience: the next sweep enrols it at {}", rfc3339(t)),
            None => "matches the audience, but the campaign's cron never fires".into(),
        });
        s.until = next.map(rfc3339);
        s
    }
}

impl Explanation {
    /// The lead, each campaign's state, then the timeline.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let history = self.view.text();
        let (head, timeline) = history.split_once("\n\nhistory").unwrap_or((&history, ""));
        out += head;
        out += "\n\ncampaigns:\n";
        for c in &self.campaigns {
            out += &format!("  {}: {}", c.campaign, c.state);
            if let (Some(step), Some(goes)) = (&c.next_step, &c.goes_at) {
                out += &format!(", next step {step} goes at {goes}");
            } else if let Some(step) = &c.next_step {
                out += &format!(", next step {step} waits");
            }
            out += "\n";
            for w in &c.why {
                out += &format!("    - {w}\n");
            }
        }
        if !timeline.is_empty() {
            out += &format!("\nhistory{timeline}");
        }
        out
    }
}
