//! `/metrics` in Prometheus text format: what `telemetry` recorded, plus
//! the backlog gauges read from the database at scrape time.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::daemon::{Current, current, now};

pub async fn render(State(engine): State<Current>) -> impl IntoResponse {
    if let Ok(r) = current(&engine).store().status(now()).await {
        crate::telemetry::backlog(r.due_now, r.active_enrolments, r.open_tasks);
    }
    match crate::telemetry::render() {
        Some(text) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text),
        None => (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain")], String::new()),
    }
}
