//! The HTTP side (when `[http] bind` is set): health for ops, and the two
//! links put in emails: unsubscribe (one-click, RFC 8058) and task done.
//! Tokens are HMAC-signed; a forged or altered one gets 404 and changes
//! nothing.

mod pages;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::daemon::{Current, current};

pub fn router(engine: Current) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/u/{token}", get(pages::unsubscribe_page).post(pages::unsubscribe))
        .route("/t/{token}/done", get(pages::task_done))
        .with_state(engine)
}

async fn healthz(State(engine): State<Current>) -> (StatusCode, &'static str) {
    match current(&engine).store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}
