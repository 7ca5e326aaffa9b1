//! A lead and everything that happened to it, as `leads show` and
//! `GET /api/leads/{email}` give it: our deliveries, its inbound mail and
//! the changes people and systems made, newest first.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Engine, Result};
use crate::lead::Lead;
use crate::template::context::rfc3339;

/// Entries shown at most; the oldest go first.
const SHOWN: i64 = 500;

#[derive(Debug, Clone, Serialize)]
pub struct LeadView {
    pub lead: Lead,
    pub suppressed: bool,
    /// Out of office until then, if the lead is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    /// The readiness score now and what makes it (README, *Readiness and
    /// hand-off*).
    pub score: ScoreView,
    pub history: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreView {
    /// Rounded to a tenth.
    pub score: f64,
    /// `[handoff] threshold` (0: only answers hand over).
    pub threshold: f64,
    /// Signals since the last hand-off, oldest first, each with its points
    /// then and now (a machine's click with why it counts nothing).
    pub parts: Vec<crate::score::Part>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_handoff: Option<String>,
}

/// One line of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at: String,
    /// `email` or `task` (our deliveries), `reply`, `auto_reply`, `bounce`,
    /// `complaint` (inbound mail), `status`, `suppressed`, `unsuppressed`,
    /// `unsubscribed`, `replied`, `task_done` (changes).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The A/B variant an email went out as (README, *A/B tests*).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// A delivery's state, what a message said or did, a change's detail.
    pub detail: String,
    /// Who made a change: `csv`, `api`, `cli`, `crm`, `link`, `inbound`,
    /// `engine`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Engine {
    /// The lead with this address and its history; `None`: no such lead.
    pub async fn lead_view(&self, email: &str, now: DateTime<Utc>) -> Result<Option<LeadView>> {
        let Some(lead) = self.store.lead_by_email(email).await? else { return Ok(None) };
        let some = |s: String| (!s.is_empty()).then_some(s);
        let history = self
            .store
            .history(lead.id, SHOWN)
            .await?
            .into_iter()
            .map(|t| Entry {
                at: rfc3339(t.at),
                kind: t.kind,
                campaign: some(t.campaign),
                step: some(t.step),
                variant: some(t.variant),
                detail: t.state,
                source: some(t.source),
            })
            .collect();
        let suppressed = self.store.is_suppressed(&lead.email).await?;
        let (s, _) = self.score(lead.id, now).await?;
        let score = ScoreView {
            score: (s.total * 10.0).round() / 10.0,
            threshold: self.defs.config.handoff.threshold,
            parts: s.parts,
            last_handoff: self.store.last_handoff(lead.id).await?.map(rfc3339),
        };
        Ok(Some(LeadView { paused_until: lead.paused_until, suppressed, score, history, lead }))
    }
}

impl LeadView {
    /// For a person: the lead's fields, then one line per entry.
    pub fn text(&self) -> String {
        let l = &self.lead;
        let name = format!("{} {}", l.first_name, l.last_name).trim().to_string();
        let mut out = format!("{} <{}>", if name.is_empty() { "(no name)" } else { &name }, l.email);
        if !l.company.is_empty() {
            out += &format!(", {}", l.company);
        }
        out += &format!("\nstatus: {} since {}", l.status, rfc3339(l.status_changed_at));
        if !l.lost_reason.is_empty() {
            out += &format!(" ({})", l.lost_reason);
        }
        out += &format!("\nowner: {}", if l.owner.is_empty() { "(none)" } else { &l.owner });
        if !l.phone.is_empty() {
            out += &format!("\nphone: {}", l.phone);
        }
        if let Some(z) = l.timezone {
            out += &format!("\ntime zone: {}", z.name());
        }
        if self.suppressed {
            out += "\nsuppressed: no marketing email goes to this address";
        }
        if let Some(t) = self.paused_until {
            out += &format!("\nout of office until {}", rfc3339(t));
        }
        let s = &self.score;
        out += &format!("\nscore: {} (hand-off at {})", s.score, s.threshold);
        if let Some(h) = &s.last_handoff {
            out += &format!(", counted since the last hand-off at {h}");
        }
        for p in &s.parts {
            let note = if p.note.is_empty() { String::new() } else { format!(" ({})", p.note) };
            out += &format!("\n  {}  {}: {:.1} of {:.1} points{note}", rfc3339(p.at), p.describe(), p.now, p.points);
        }
        out += "\n\nhistory (newest first):\n";
        if self.history.is_empty() {
            out += "  (nothing yet)\n";
        }
        for e in &self.history {
            let place = match (&e.campaign, &e.step) {
                (Some(c), Some(s)) => match &e.variant {
                    Some(v) => format!(" {c}/{s} (variant {v})"),
                    None => format!(" {c}/{s}"),
                },
                (Some(c), None) => format!(" {c}"),
                _ => String::new(),
            };
            let by = e.source.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
            out += &format!("  {}  {}{place}  {}{by}\n", e.at, e.kind, e.detail);
        }
        out
    }
}
