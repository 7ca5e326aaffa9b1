//! The bearer-token API a CRM or a web form calls: upsert leads (enrolled
//! at once) and record events (reply, status change; exits at once).
//! Disabled (404) unless `[http] api_token_file` is set. Also reads a lead
//! with its history (`GET /api/leads/{email}`) and erases one on request
//! (`DELETE /api/leads/{email}`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::daemon::{current, now};
use crate::engine::EngineError;
use crate::import::set_field;
use crate::store::{NewLead, Source};

type Reply = (StatusCode, Json<Value>);

fn reply(status: StatusCode, body: Value) -> Reply {
    (status, Json(body))
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    reply(status, json!({ "error": message.into() }))
}

/// Constant-time, so the token cannot be guessed byte by byte from timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Reply> {
    let Some(token) = &state.api_token else { return Err(error(StatusCode::NOT_FOUND, "the API is disabled")) };
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same(g.trim().as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")),
    }
}

/// Every API route checks the token before anything reads the body: a
/// stranger's request costs no parsing.
pub async fn guard(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match authorize(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// A JSON lead: the lead fields as strings, `attributes` an object of strings.
fn lead_from_json(v: &Value, statuses: &[String]) -> Result<NewLead, String> {
    let Value::Object(map) = v else { return Err("a lead must be a JSON object".into()) };
    let mut lead = NewLead::default();
    if !map.contains_key("email") {
        return Err("a lead needs \"email\"".into());
    }
    for (name, value) in map {
        match (name.as_str(), value) {
            ("attributes", Value::Object(attrs)) => {
                for (k, v) in attrs {
                    let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    lead.attributes.insert(k.clone(), text);
                }
            }
            (_, Value::String(s)) => set_field(&mut lead, name, s, statuses)?,
            (_, Value::Null) => set_field(&mut lead, name, "", statuses)?,
            (_, other) => set_field(&mut lead, name, &other.to_string(), statuses)?,
        }
    }
    Ok(lead)
}

pub async fn upsert_leads(State(state): State<AppState>, headers: HeaderMap, Json(body): Json<Value>) -> Reply {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let e = current(&state.engine);
    let items = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut leads = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match lead_from_json(item, &e.defs().config.statuses) {
            Ok(l) => leads.push(l),
            Err(why) => return error(StatusCode::BAD_REQUEST, format!("lead {i}: {why}; nothing was saved")),
        }
    }
    match e.upsert_leads(&leads, Source::Api, now()).await {
        Ok(_) => {}
        Err(EngineError::Saved(why)) => {
            tracing::error!(error = why, "Leads saved, but enrolment failed; the next sweep retries.");
        }
        Err(err) => return error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
    tracing::info!(count = leads.len(), "Leads upserted through the API.");
    reply(StatusCode::OK, json!({ "upserted": leads.len() }))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum LeadEvent {
    Replied,
    Status { status: String, reason: Option<String> },
}

pub async fn lead_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(email): Path<String>,
    body: Result<Json<LeadEvent>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let Ok(Json(event)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body: {\"type\": \"replied\"} or {\"type\": \"status\", \"status\": ...}",
        );
    };
    let e = current(&state.engine);
    let at = now();
    let saved = match &event {
        LeadEvent::Replied => e.replied(&email, Source::Api, at).await.map(|_| ()),
        LeadEvent::Status { status, reason } => {
            e.set_status(&email, status, reason.as_deref(), Source::Api, at).await.map(|_| ())
        }
    };
    match saved {
        Ok(()) => {}
        Err(EngineError::Saved(why)) => {
            tracing::error!(error = why, "Saved, but exits and enrolment failed; the next step retries.");
        }
        Err(err @ EngineError::UnknownLead(_)) => return error(StatusCode::NOT_FOUND, err.to_string()),
        Err(err @ EngineError::UnknownStatus { .. }) => return error(StatusCode::BAD_REQUEST, err.to_string()),
        Err(err) => return error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
    reply(StatusCode::OK, json!({ "ok": true }))
}

/// `GET /api/leads/{email}`: the lead and its history, as `leads show
/// --json` prints them; 404 for an unknown lead.
pub async fn lead_show(State(state): State<AppState>, headers: HeaderMap, Path(email): Path<String>) -> Reply {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    match current(&state.engine).lead_view(&email).await {
        Ok(Some(view)) => reply(StatusCode::OK, serde_json::to_value(view).unwrap_or_default()),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown lead {}", email.trim().to_lowercase())),
        Err(err) => error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}

/// `DELETE /api/leads/{email}`: erase the lead (as `leads forget`); 200
/// with the rows removed per table, `"found": false` when there was no such
/// lead (the address is kept as a hash all the same: a request to be
/// forgotten is honoured even before the import).
pub async fn lead_forget(State(state): State<AppState>, headers: HeaderMap, Path(email): Path<String>) -> Reply {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    if let Err(why) = crate::email::parse_address(&email) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    match current(&state.engine).forget(&email, now()).await {
        Ok(erased) => reply(
            StatusCode::OK,
            json!({ "email": email.trim().to_lowercase(), "found": erased.contains_key("leads"), "removed": erased }),
        ),
        Err(err) => error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}
