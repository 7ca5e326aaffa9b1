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

/// The body of `POST /api/leads/{email}/events`: `replied`, `status`
/// (with `status`, `reason`), or any other named event from the website or
/// a form tool (`{"type": "page_view", "name": "pricing"}`), scored by
/// `[scoring] events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    status: Option<String>,
    reason: Option<String>,
}

/// An event type: a word of letters, digits, `_`, `-` and `.`.
const MAX_TYPE: usize = 64;
/// An event name: any text on one line.
const MAX_NAME: usize = 200;

fn event_error(e: &LeadEvent) -> Option<String> {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    match e.kind.as_str() {
        "replied" if e.status.is_none() && e.name.is_empty() => None,
        "status" if e.status.is_some() => None,
        "replied" | "status" => {
            Some("\"replied\" takes nothing else; \"status\" takes \"status\" and \"reason\"".into())
        }
        _ if e.status.is_some() || e.reason.is_some() => {
            Some("\"status\" and \"reason\" go with \"type\": \"status\"".into())
        }
        k if !word(k) || k.len() > MAX_TYPE => {
            Some(format!("type: a word of letters, digits, '_', '-' or '.', at most {MAX_TYPE} characters"))
        }
        _ if e.name.chars().count() > MAX_NAME || e.name.chars().any(char::is_control) => {
            Some(format!("name: one line of at most {MAX_NAME} characters"))
        }
        _ => None,
    }
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
    let usage = "body: {\"type\": \"replied\"}, {\"type\": \"status\", \"status\": ...} or a named event \
                 {\"type\": \"page_view\", \"name\": \"pricing\"}";
    let Ok(Json(event)) = body else { return error(StatusCode::BAD_REQUEST, usage) };
    if let Some(why) = event_error(&event) {
        return error(StatusCode::BAD_REQUEST, format!("{why}; {usage}"));
    }
    let e = current(&state.engine);
    let at = now();
    let saved = match (event.kind.as_str(), &event.status) {
        ("replied", _) => e.replied(&email, Source::Api, at).await.map(|_| ()),
        ("status", Some(status)) => {
            e.set_status(&email, status, event.reason.as_deref(), Source::Api, at).await.map(|_| ())
        }
        (kind, _) => e.event(&email, kind, event.name.trim(), at).await.map(|_| ()),
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
    match current(&state.engine).lead_view(&email, now()).await {
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
