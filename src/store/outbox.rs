//! The webhook outbox: an event is written by the store function that makes
//! the change it reports, inside the same transaction (no change without
//! its event, no event without its change), its JSON body fixed then with
//! the lead as it stands after the change (README, *Webhooks*).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Result;
use super::leads::{LEAD_COLUMNS, lead_from};
use super::sql::{Run, Sql};
use crate::template::context::rfc3339;

/// What an event is about, and so the order it keeps: one lead's events
/// reach a webhook in the order they happened; a campaign's likewise.
pub enum About {
    Lead(i64),
    Campaign(String),
    /// An erased address, by its hash only.
    Forgotten(String),
}

/// A random event id (`evt_` and 32 hex digits), the receiver's key for
/// dropping a repeat.
fn uid() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source");
    format!("evt_{}", crate::hex::encode(&bytes))
}

/// Record event `kind` about `about` with `data`, in the caller's
/// transaction (after its change, so the lead in the body is the lead
/// after it). A lead no longer stored: nothing (its erasure tells the CRM).
pub(super) async fn record(tx: &mut impl Run, kind: &str, about: About, data: Value, at: DateTime<Utc>) -> Result<()> {
    let (lead_id, stream, lead) = match about {
        About::Lead(id) => {
            if tx.postgres() {
                // One lead's events take their ids in the order their
                // transactions commit (the lead's row locked until then),
                // so the order they are fanned out and sent in is the
                // order they happened.
                tx.execute(Sql::new("SELECT id FROM leads WHERE id = $1 FOR UPDATE").bind(id)).await?;
            }
            let q = Sql::dynamic(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.id = $1")).bind(id);
            let Some(row) = tx.fetch_optional(q).await? else { return Ok(()) };
            let l = lead_from(&row)?;
            let lead = json!({
                "email": l.email,
                "first_name": l.first_name,
                "last_name": l.last_name,
                "company": l.company,
                "owner": l.owner,
                "status": l.status,
                "lost_reason": l.lost_reason,
                "phone": l.phone,
                "timezone": l.timezone.map(|z| z.name().to_string()).unwrap_or_default(),
                "attributes": l.attributes,
            });
            (Some(id), format!("lead:{id}"), lead)
        }
        About::Campaign(c) => (None, format!("campaign:{c}"), Value::Null),
        About::Forgotten(hash) => (None, format!("forgotten:{hash}"), Value::Null),
    };
    let uid = uid();
    let body = json!({ "id": uid, "type": kind, "at": rfc3339(at), "lead": lead, "data": data });
    let q =
        Sql::new("INSERT INTO webhook_events (uid, type, lead_id, stream, at, body) VALUES ($1, $2, $3, $4, $5, $6)");
    tx.execute(q.bind(uid).bind(kind).bind(lead_id).bind(stream).bind(at).bind(body.to_string())).await?;
    Ok(())
}
