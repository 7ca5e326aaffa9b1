//! `/metrics` in Prometheus text format. Counters are recorded where things
//! happen (the event sink, the retry branch, the tick loop) through the
//! `metrics` facade; the backlog gauges are read from the database at
//! scrape time, so they are never stale.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::daemon::{Current, current, now};
use crate::engine::events::Kind;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the recorder once per process; later calls are no-ops.
pub fn install() {
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok());
}

/// Count one engine event.
pub fn event(kind: &Kind, campaign: Option<&str>) {
    let campaign = campaign.unwrap_or("").to_string();
    match kind {
        Kind::Email => metrics::counter!("nurture_emails_sent_total", "campaign" => campaign).increment(1),
        Kind::Task => metrics::counter!("nurture_tasks_created_total", "campaign" => campaign).increment(1),
        Kind::Enrolled => metrics::counter!("nurture_enrolments_total", "campaign" => campaign).increment(1),
        Kind::Exited => metrics::counter!("nurture_exits_total", "campaign" => campaign).increment(1),
        Kind::Skipped => metrics::counter!("nurture_failures_total", "campaign" => campaign).increment(1),
        Kind::Reminder => metrics::counter!("nurture_reminders_sent_total").increment(1),
        Kind::Digest => metrics::counter!("nurture_digests_sent_total").increment(1),
    }
}

/// Leads a sweep enrolled without an event each.
pub fn enrolled(campaign: &str, n: usize) {
    metrics::counter!("nurture_enrolments_total", "campaign" => campaign.to_string()).increment(n as u64);
}

pub fn retry() {
    metrics::counter!("nurture_retries_total").increment(1);
}

/// Time the transport took to accept one message (SMTP round trips, or
/// the outbox file written).
pub fn send_seconds(seconds: f64) {
    metrics::histogram!("nurture_send_duration_seconds").record(seconds);
}

/// Time one timed enrolment sweep took.
pub fn sweep_seconds(seconds: f64) {
    metrics::histogram!("nurture_sweep_duration_seconds").record(seconds);
}

pub fn tick_seconds(seconds: f64) {
    metrics::histogram!("nurture_tick_duration_seconds").record(seconds);
}

pub async fn render(State(engine): State<Current>) -> impl IntoResponse {
    let e = current(&engine);
    if let Ok(r) = e.store.status(now()).await {
        metrics::gauge!("nurture_due_backlog").set(r.due_now as f64);
        metrics::gauge!("nurture_active_enrolments").set(r.active_enrolments as f64);
        metrics::gauge!("nurture_open_tasks").set(r.open_tasks as f64);
    }
    match HANDLE.get().and_then(Option::as_ref) {
        Some(h) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()),
        None => (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain")], String::new()),
    }
}
