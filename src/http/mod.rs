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
        .route("/t/{token}/done", get(pages::task_done))
        .route_layer(axum::middleware::from_fn_with_state(limit::shared(), limit::limit));
    Router::new()
        .merge(links)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .route("/api/leads", post(api::upsert_leads))
        .route("/api/leads/{email}/events", post(api::lead_event))
        .with_state(state)
}

async fn healthz(State(engine): State<Current>) -> (StatusCode, &'static str) {
    match current(&engine).store().ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}
