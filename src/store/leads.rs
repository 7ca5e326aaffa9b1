//! Leads and suppressions: what the CRM, the CSV import and the API write,
//! and what a sweep or a step reads back.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use serde_json::json;

use super::outbox::{self, About};
use super::sql::{Row, Run, Sql};
use super::{Database, Result};
use crate::lead::Lead;

/// A lead as imported or posted: what the CRM knows. `None` fields were
/// not given: an existing lead keeps its value, a new one gets "" (status
/// "new").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewLead {
    /// Lower-cased, validated.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub owner: Option<String>,
    pub status: Option<String>,
    /// `None`: now if the status changed (or the lead is new), else unchanged.
    pub status_changed_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
    /// Merged into the lead's attributes.
    pub attributes: BTreeMap<String, String>,
}

#[async_trait]
pub trait Leads: Send + Sync {
    /// Insert or update by email, all in one transaction; returns the ids.
    async fn upsert_leads(&self, leads: &[NewLead], source: Source, now: DateTime<Utc>) -> Result<Vec<i64>>;
    async fn lead(&self, id: i64) -> Result<Option<Lead>>;
    async fn lead_by_email(&self, email: &str) -> Result<Option<Lead>>;
    async fn set_status(
        &self,
        lead_id: i64,
        status: &str,
        reason: Option<&str>,
        source: Source,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// `source` other than [`Source::Inbound`] is recorded in the history
    /// (an inbound reply has its own row in `inbound`).
    async fn record_reply(&self, lead_id: i64, source: Source, now: DateTime<Utc>) -> Result<()>;
    /// Make `rep` the lead's owner if its owner is still `expected`;
    /// returns the owner after (another's, if it changed meanwhile).
    async fn assign_owner(&self, lead_id: i64, expected: &str, rep: &str, now: DateTime<Utc>) -> Result<String>;

    /// False if the address was suppressed already.
    async fn suppress(&self, email: &str, reason: &str, source: Source, now: DateTime<Utc>) -> Result<bool>;
    /// Lift a suppression; the lead counts as changed (`updated_at = now`).
    async fn unsuppress(&self, email: &str, source: Source, now: DateTime<Utc>) -> Result<bool>;
    async fn is_suppressed(&self, email: &str) -> Result<bool>;
    /// Record a status a CRM wrote straight into `leads` (found by the
    /// sweep: the status differs from the last one recorded); how many.
    async fn record_crm_changes(&self, now: DateTime<Utc>) -> Result<u64>;
    /// The lead's recorded events (not deliveries, not inbound mail),
    /// newest first.
    async fn lead_events(&self, lead_id: i64, limit: i64) -> Result<Vec<LeadEvent>>;
}

/// Who changed a lead: the history says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Csv,
    Api,
    Cli,
    /// A write to `leads` by another program, noticed by a sweep.
    Crm,
    /// A link in an email (unsubscribe, task done).
    Link,
    Inbound,
    /// nurture itself (a rule, a guardrail, a simulation).
    Engine,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Csv => "csv",
            Source::Api => "api",
            Source::Cli => "cli",
            Source::Crm => "crm",
            Source::Link => "link",
            Source::Inbound => "inbound",
            Source::Engine => "engine",
        }
    }
}

/// The webhook event a suppression is: a bounce, a complaint, or the
/// lead's (or someone's) wish to hear no more.
/// (`data.source` and `data.reason` tell which).
fn suppressed_event(reason: &str) -> &'static str {
    match reason {
        r if r.starts_with("bounced") => "lead.bounced",
        r if r.starts_with("complaint") => "lead.complained",
        _ => "lead.unsubscribed",
    }
}

/// One row of `history`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeadEvent {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub detail: String,
    pub source: String,
}

/// `from -> to`, with the reason when one was given.
fn status_change(from: Option<&str>, to: &str, reason: Option<&str>) -> String {
    let mut d = match from {
        Some(f) => format!("{f} -> {to}"),
        None => format!("-> {to}"),
    };
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        d += &format!(" ({r})");
    }
    d
}

/// A `history` row; `status` is the status entered, for a status change
/// (what `report` counts conversions by).
pub(super) fn event(
    lead_id: i64,
    at: DateTime<Utc>,
    kind: &str,
    detail: &str,
    status: Option<&str>,
    source: Source,
) -> Sql {
    Sql::new("INSERT INTO history (lead_id, at, kind, detail, status, source) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(lead_id)
        .bind(at)
        .bind(kind.to_string())
        .bind(detail.to_string())
        .bind(status.map(str::to_string))
        .bind(source.as_str())
}

/// A status change: `from -> to (reason)`.
pub(super) fn status_event(
    lead_id: i64,
    at: DateTime<Utc>,
    from: Option<&str>,
    to: &str,
    reason: Option<&str>,
    source: Source,
) -> Sql {
    event(lead_id, at, "status", &status_change(from, to, reason), Some(to), source)
}

/// The columns [`lead_from`] reads, on `leads l`.
pub(super) const LEAD_COLUMNS: &str = "l.id, l.email, l.first_name, l.last_name, l.company, l.owner, l.status, \
     l.status_changed_at, l.lost_reason, l.phone, l.timezone, l.attributes, l.replied_at, l.paused_until, l.created_at, l.updated_at";

pub(super) fn lead_from(r: &Row) -> Result<Lead> {
    let attributes: String = r.get("attributes")?;
    let timezone: String = r.get("timezone")?;
    Ok(Lead {
        id: r.get("id")?,
        email: r.get("email")?,
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        company: r.get("company")?,
        owner: r.get("owner")?,
        status: r.get("status")?,
        status_changed_at: r.get("status_changed_at")?,
        lost_reason: r.get("lost_reason")?,
        phone: r.get("phone")?,
        timezone: timezone.parse().ok(),
        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        replied_at: r.get("replied_at")?,
        paused_until: r.get("paused_until")?,
    })
}

fn normal(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The row `n` makes of `old` (or of nothing): given fields win, the
/// others stay; attributes merge.
fn merged(n: &NewLead, old: Option<&Lead>, now: DateTime<Utc>) -> Sql {
    let pick =
        |new: &Option<String>, old: Option<&str>| new.clone().unwrap_or_else(|| old.unwrap_or_default().to_string());
    let status = pick(&n.status, old.map(|o| o.status.as_str()).or(Some("new")));
    let changed_at = match (old, n.status_changed_at) {
        (_, Some(t)) => t,
        (Some(o), None) if o.status == status => o.status_changed_at,
        _ => now,
    };
    let mut attributes = old.map(|o| o.attributes.clone()).unwrap_or_default();
    attributes.extend(n.attributes.clone());
    let zone = old.and_then(|o| o.timezone).map(|t| t.name().to_string());
    let sql = match old {
        Some(_) => Sql::new(
            "UPDATE leads SET first_name = $2, last_name = $3, company = $4, owner = $5, \
             status = $6, known_status = $6, lost_reason = $7, timezone = $8, attributes = $9, \
             status_changed_at = $10, updated_at = $11, phone = $12 WHERE email = $1 RETURNING id",
        ),
        None => Sql::new(
            "INSERT INTO leads (email, first_name, last_name, company, owner, status, known_status, \
             lost_reason, timezone, attributes, status_changed_at, updated_at, created_at, phone) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $11, $12) RETURNING id",
        ),
    };
    sql.bind(&n.email)
        .bind(pick(&n.first_name, old.map(|o| o.first_name.as_str())))
        .bind(pick(&n.last_name, old.map(|o| o.last_name.as_str())))
        .bind(pick(&n.company, old.map(|o| o.company.as_str())))
        .bind(pick(&n.owner, old.map(|o| o.owner.as_str())))
        .bind(status)
        .bind(pick(&n.lost_reason, old.map(|o| o.lost_reason.as_str())))
        .bind(pick(&n.timezone, zone.as_deref()))
        .bind(serde_json::to_string(&attributes).unwrap_or_else(|_| "{}".into()))
        .bind(changed_at)
        .bind(now)
        .bind(pick(&n.phone, old.map(|o| o.phone.as_str())))
}

#[async_trait]
impl Leads for Database {
    async fn upsert_leads(&self, leads: &[NewLead], source: Source, now: DateTime<Utc>) -> Result<Vec<i64>> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let mut ids = Vec::with_capacity(leads.len());
        for n in leads {
            let by_email = Sql::dynamic(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.email = $1"));
            let old = tx.fetch_optional(by_email.bind(&n.email)).await?.as_ref().map(lead_from).transpose()?;
            let row = tx.fetch_one(merged(n, old.as_ref(), now)).await?;
            let id: i64 = row.get("id")?;
            let before = old.as_ref().map(|o| o.status.as_str());
            let after = n.status.as_deref().or(before).unwrap_or("new");
            if before != Some(after) {
                let reason = n.lost_reason.as_deref();
                tx.execute(status_event(id, now, before, after, reason, source)).await?;
            }
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn lead(&self, id: i64) -> Result<Option<Lead>> {
        let q = Sql::dynamic(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.id = $1")).bind(id);
        self.conn().await?.fetch_optional(q).await?.as_ref().map(lead_from).transpose()
    }

    async fn lead_by_email(&self, email: &str) -> Result<Option<Lead>> {
        let q = Sql::dynamic(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.email = $1")).bind(normal(email));
        self.conn().await?.fetch_optional(q).await?.as_ref().map(lead_from).transpose()
    }

    async fn set_status(
        &self,
        lead_id: i64,
        status: &str,
        reason: Option<&str>,
        source: Source,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let before: Option<String> =
            match tx.fetch_optional(Sql::new("SELECT status FROM leads WHERE id = $1").bind(lead_id)).await? {
                Some(r) => Some(r.get("status")?),
                None => None,
            };
        let q = Sql::new(
            "UPDATE leads SET status_changed_at = CASE WHEN status = $2 THEN status_changed_at ELSE $3 END, \
             status = $2, known_status = $2, lost_reason = COALESCE($4, lost_reason), updated_at = $3 WHERE id = $1",
        );
        tx.execute(q.bind(lead_id).bind(status).bind(now).bind(reason)).await?;
        if before.as_deref().is_some_and(|b| b != status) {
            tx.execute(status_event(lead_id, now, before.as_deref(), status, reason, source)).await?;
            let data = json!({ "from": before, "to": status, "reason": reason, "source": source.as_str() });
            outbox::record(&mut tx, "lead.status", About::Lead(lead_id), data, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_reply(&self, lead_id: i64, source: Source, now: DateTime<Utc>) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new("UPDATE leads SET replied_at = $2, updated_at = $2 WHERE id = $1");
        tx.execute(q.bind(lead_id).bind(now)).await?;
        if source != Source::Inbound {
            tx.execute(event(lead_id, now, "replied", "", None, source)).await?;
        }
        // A reply scores (README, *Readiness and hand-off*).
        let signal = Sql::new("INSERT INTO signals (lead_id, kind, at) VALUES ($1, 'reply', $2)");
        tx.execute(signal.bind(lead_id).bind(now)).await?;
        tx.execute(super::signals::check(lead_id, now)).await?;
        outbox::record(&mut tx, "lead.replied", About::Lead(lead_id), json!({ "source": source.as_str() }), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn assign_owner(&self, lead_id: i64, expected: &str, rep: &str, now: DateTime<Utc>) -> Result<String> {
        let mut c = self.conn().await?;
        let q = Sql::new("UPDATE leads SET owner = $3, updated_at = $4 WHERE id = $1 AND owner = $2");
        c.execute(q.bind(lead_id).bind(expected).bind(rep).bind(now)).await?;
        c.fetch_one(Sql::new("SELECT owner FROM leads WHERE id = $1").bind(lead_id)).await?.get("owner")
    }

    async fn suppress(&self, email: &str, reason: &str, source: Source, now: DateTime<Utc>) -> Result<bool> {
        let email = normal(email);
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new(
            "INSERT INTO suppressions (email, reason, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO NOTHING",
        );
        let added = tx.execute(q.bind(&email).bind(reason).bind(now)).await? == 1;
        if added {
            // An unsubscribe link is the lead's own choice; the rest is ours.
            let kind = if source == Source::Link { "unsubscribed" } else { "suppressed" };
            tx.execute(lead_event(&email, now, kind, reason, source)).await?;
            let q = Sql::new("SELECT id FROM leads WHERE email = $1").bind(&email);
            if let Some(r) = tx.fetch_optional(q).await? {
                let data = json!({ "reason": reason, "source": source.as_str() });
                outbox::record(&mut tx, suppressed_event(reason), About::Lead(r.get("id")?), data, now).await?;
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn unsuppress(&self, email: &str, source: Source, now: DateTime<Utc>) -> Result<bool> {
        let email = normal(email);
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let removed = tx.execute(Sql::new("DELETE FROM suppressions WHERE email = $1").bind(&email)).await?;
        tx.execute(Sql::new("UPDATE leads SET updated_at = $2 WHERE email = $1").bind(&email).bind(now)).await?;
        if removed > 0 {
            tx.execute(lead_event(&email, now, "unsuppressed", "", source)).await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    async fn is_suppressed(&self, email: &str) -> Result<bool> {
        let q = Sql::new("SELECT 1 AS one FROM suppressions WHERE email = $1").bind(normal(email));
        Ok(self.conn().await?.fetch_optional(q).await?.is_some())
    }

    async fn record_crm_changes(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let record = Sql::new(
            "INSERT INTO history (lead_id, at, kind, detail, source, status) \
             SELECT id, $1, 'status', COALESCE(known_status || ' ', '') || '-> ' || status, 'crm', status FROM leads \
             WHERE known_status IS NULL OR known_status <> status",
        );
        let n = tx.execute(record.bind(now)).await?;
        if n > 0 {
            let seen = "UPDATE leads SET known_status = status WHERE known_status IS NULL OR known_status <> status";
            tx.execute(Sql::new(seen)).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn lead_events(&self, lead_id: i64, limit: i64) -> Result<Vec<LeadEvent>> {
        let q = Sql::new(
            "SELECT at, kind, detail, source FROM history WHERE lead_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        );
        let rows = self.conn().await?.fetch_all(q.bind(lead_id).bind(limit)).await?;
        rows.iter()
            .map(|r| {
                Ok(LeadEvent {
                    at: r.get("at")?,
                    kind: r.get("kind")?,
                    detail: r.get("detail")?,
                    source: r.get("source")?,
                })
            })
            .collect()
    }
}

/// [`event`] for the lead with this address, if there is one.
fn lead_event(email: &str, at: DateTime<Utc>, kind: &str, detail: &str, source: Source) -> Sql {
    Sql::new(
        "INSERT INTO history (lead_id, at, kind, detail, source) \
         SELECT id, $2, $3, $4, $5 FROM leads WHERE email = $1",
    )
    .bind(email.to_string())
    .bind(at)
    .bind(kind.to_string())
    .bind(detail.to_string())
    .bind(source.as_str())
}
