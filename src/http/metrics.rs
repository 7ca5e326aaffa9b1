//! `/metrics` in Prometheus text format: what `telemetry` recorded, plus
//! the backlog gauges and the housekeeping jobs' last runs, read from the
//! database at scrape time.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::daemon::{Current, current, now};

pub async fn render(State(engine): State<Current>) -> impl IntoResponse {
    let e = current(&engine);
    if let Ok(r) = e.store().status(now()).await {
        crate::telemetry::backlog(r.due_now, r.active_enrolments, r.open_tasks);
    }
    for run in crate::housekeeping::last_runs(e.store().as_ref()).await.unwrap_or_default() {
        crate::telemetry::housekeeping_last(run.job, run.at, run.ok);
    }
    match crate::telemetry::render() {
        Some(text) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text),
        None => (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain")], String::new()),
    }
}
