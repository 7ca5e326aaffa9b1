//! The HTTP side (when `[http] bind` is set): health for ops, and the two
//! links put in emails: unsubscribe (one-click, RFC 8058) and task done.
//! Tokens are HMAC-signed; a forged or altered one gets 404 and changes
//! nothing.

mod api;
pub mod limit;
pub mod metrics;
mod pages;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::daemon::{Current, current};

#[derive(Clone)]
pub struct AppState {
    pub engine: Current,
    /// `None`: the API answers 404.
    pub api_token: Option<String>,
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
        .route_layer(axum::middleware::from_fn_with_state(limit::shared(), limit::limit));
    Router::new()
        .merge(links)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .route("/api/leads", post(api::upsert_leads))
        .route("/api/leads/{email}/events", post(api::lead_event))
        .with_state(state)
}

/// 200 while the database answers, else 503; the body names the state of
/// the database and the mail server, one `name: state` line each.
async fn healthz(State(engine): State<Current>) -> (StatusCode, String) {
    let e = current(&engine);
    let smtp = if e.mail_up() { "smtp: ok" } else { "smtp: unreachable (due steps wait; probing)" };
    match e.store().ping().await {
        Ok(()) => (StatusCode::OK, format!("ok\ndatabase: ok\n{smtp}\n")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable\ndatabase: unavailable\n{smtp}\n")),
    }
}
