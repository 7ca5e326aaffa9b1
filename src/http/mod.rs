//! The HTTP side (when `[http] bind` is set): health for ops, the links
//! put in emails: unsubscribe (one-click, RFC 8058), task done, answers and
//! tracked links (`track.rs`, written in batches by `clicks.rs`),
//! the bearer-token API, and the console (`console/`).
//! Tokens are HMAC-signed; a forged or altered one gets 404 and changes
//! nothing.

mod api;
pub mod clicks;
pub mod client;
pub mod console;
mod headers;
pub mod limit;
pub mod metrics;
mod pages;
pub mod serve;
mod track;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::daemon::{Current, current};
use crate::template::context::rfc3339;

#[derive(Clone)]
pub struct AppState {
    pub engine: Current,
    /// `None`: the API answers 404.
    pub api_token: Option<String>,
    /// The inbound mailbox's state, when one is read.
    pub mailbox: Option<Arc<crate::mailbox::Health>>,
    /// The console, when `[http] console_users_file` is set (else 404).
    pub console: Option<Arc<console::Console>>,
    /// The supervised tasks' panics, for `/healthz`.
    pub tasks: Arc<crate::daemon::supervise::Panics>,
    /// How a client's address is found (trusted proxies).
    pub clients: client::Clients,
    /// Where `/c/` queues its clicks for the click writer.
    pub clicks: clicks::Clicks,
}

impl FromRef<AppState> for clicks::Clicks {
    fn from_ref(s: &AppState) -> clicks::Clicks {
        s.clicks.clone()
    }
}

impl FromRef<AppState> for Current {
    fn from_ref(s: &AppState) -> Current {
        s.engine.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let links = Router::new()
        .route("/u/{token}", get(pages::unsubscribe_page).post(pages::unsubscribe))
        .route("/t/{token}/done", get(pages::task_page).post(pages::task_done))
        .route("/c/{token}", get(track::click))
        .route("/a/{token}", get(pages::answer_page).post(pages::answer))
        .route_layer(axum::middleware::from_fn_with_state(
            limit::Links::new(state.engine.clone(), state.clients.clone()),
            limit::limit,
        ));
    let api = Router::new()
        .route("/api/leads", post(api::upsert_leads))
        .route("/api/leads/{email}", get(api::lead_show).delete(api::lead_forget))
        .route("/api/leads/{email}/events", post(api::lead_event))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), api::guard));
    Router::new()
        .merge(links)
        .merge(api)
        .merge(console::router())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .layer(axum::middleware::from_fn(headers::guard))
        .with_state(state)
}

/// 200 while the database answers, else 503; the body names the state of
/// the database, the mail server, the inbound mailbox (when one is
/// read) and the supervised tasks (`tasks: ok`, or which panicked, how
/// often, and the last message), one `name: state` line each. A mailbox that is down is a state
/// to see, not a failed health check: sending goes on without it.
async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    let e = current(&state.engine);
    let mut parts =
        vec![if e.mail_up() { "smtp: ok".to_string() } else { "smtp: unreachable (due steps wait; probing)".into() }];
    if let Some(m) = &state.mailbox {
        parts.push(format!("imap: {}", m.state().unwrap_or_else(|| "connecting".into())));
    }
    parts.push(state.tasks.health());
    for hook in &e.defs().config.webhooks {
        let line = match e.store().hook_stats(&hook.name).await {
            Ok(s) => match (&s.disabled, s.last_error.as_str()) {
                (Some((at, why)), _) => {
                    format!("disabled since {} ({why}; `nurture webhooks replay` enables it)", rfc3339(*at))
                }
                (None, "") => format!("ok ({} pending)", s.pending),
                (None, err) => format!("{} pending, last error: {err}", s.pending),
            },
            Err(_) => "unknown (database unavailable)".into(),
        };
        parts.push(format!("webhook {}: {line}", hook.name));
    }
    let rest = parts.join("\n");
    match e.store().ping().await {
        Ok(()) => (StatusCode::OK, format!("ok\ndatabase: ok\n{rest}\n")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable\ndatabase: unavailable\n{rest}\n")),
    }
}
