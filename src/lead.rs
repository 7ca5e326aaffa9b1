//! A lead: a person in the pipeline, as the CRM (or `leads import`) gives it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lead {
    /// Database id; 0 for a lead not stored (the sample lead).
    #[serde(skip)]
    pub id: i64,
    /// Unique, compared case-insensitively; stored lower-cased.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    /// The owning rep's email; empty when unassigned.
    pub owner: String,
    pub status: String,
    pub status_changed_at: DateTime<Utc>,
    pub lost_reason: String,
    /// As given (the CSV's `phone` column, the API); empty when unknown.
    pub phone: String,
    #[serde(serialize_with = "zone_name")]
    pub timezone: Option<Tz>,
    pub attributes: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last reply recorded, if any.
    #[serde(skip)]
    pub replied_at: Option<DateTime<Utc>>,
    /// Out of office until then (an automatic reply said so): no step
    /// is carried out before.
    #[serde(skip)]
    pub paused_until: Option<DateTime<Utc>>,
}

fn zone_name<S: serde::Serializer>(tz: &Option<Tz>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.map(|t| t.name()).unwrap_or(""))
}

impl Lead {
    /// The lead `check` and `preview` render against: every field filled,
    /// so a template that works here fails only on a real lead's blanks.
    pub fn sample(status: &str, now: DateTime<Utc>) -> Lead {
        Lead {
            id: 0,
            email: "ana.alves@example.com".into(),
            first_name: "Ana".into(),
            last_name: "Alves".into(),
            company: "Acme Corp".into(),
            owner: "rep@example.com".into(),
            status: status.into(),
            status_changed_at: now - TimeDelta::days(200),
            lost_reason: "budget".into(),
            phone: "+351 21 000 0000".into(),
            timezone: Some(chrono_tz::Europe::Lisbon),
            attributes: BTreeMap::new(),
            created_at: now - TimeDelta::days(400),
            updated_at: now - TimeDelta::days(200),
            replied_at: None,
            paused_until: None,
        }
    }

    /// How a rep reads the lead: "Ana Silva (Acme)", "Ana Silva", or the
    /// address when there is no name.
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.first_name, self.last_name).trim().to_string();
        match (name.is_empty(), self.company.is_empty()) {
            (true, _) => self.email.clone(),
            (false, true) => name,
            (false, false) => format!("{name} ({})", self.company),
        }
    }

    /// Whole days since the status last changed, as templates show it.
    pub fn days_since_status_change(&self, now: DateTime<Utc>) -> i64 {
        (now - self.status_changed_at).num_days().max(0)
    }
}
