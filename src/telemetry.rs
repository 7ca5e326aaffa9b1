//! Metrics, recorded where things happen (the engine's log sink, the retry
//! branch, the tick loop) through the `metrics` facade and rendered as
//! Prometheus text for `/metrics`. The engine, the daemon and HTTP all use
//! this module; it imports none of them.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the recorder once per process; later calls are no-ops. Until
/// then (the CLI, tests) every recording below goes nowhere.
pub fn install() {
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok());
}

/// The counters (docs/metrics.md); those with a `campaign` label take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    EmailsSent,
    TasksCreated,
    Enrolments,
    Exits,
    Failures,
    Retries,
    RemindersSent,
    DigestsSent,
    /// Pauses stored (the `campaign` label is the campaign, or `all`).
    Pauses,
    /// Leads handed to a rep (README, *Readiness and hand-off*).
    Handoffs,
    /// A/B tests won (README, *A/B tests*), by the test or by hand.
    TestWinners,
}

impl Counter {
    fn name(self) -> &'static str {
        match self {
            Counter::EmailsSent => "nurture_emails_sent_total",
            Counter::TasksCreated => "nurture_tasks_created_total",
            Counter::Enrolments => "nurture_enrolments_total",
            Counter::Exits => "nurture_exits_total",
            Counter::Failures => "nurture_failures_total",
            Counter::Retries => "nurture_retries_total",
            Counter::RemindersSent => "nurture_reminders_sent_total",
            Counter::DigestsSent => "nurture_digests_sent_total",
            Counter::Pauses => "nurture_pauses_total",
            Counter::Handoffs => "nurture_handoffs_total",
            Counter::TestWinners => "nurture_test_winners_total",
        }
    }
}

impl Counter {
    /// Counters labelled with a campaign.
    const PER_CAMPAIGN: [Counter; 6] = [
        Counter::EmailsSent,
        Counter::TasksCreated,
        Counter::Enrolments,
        Counter::Exits,
        Counter::Failures,
        Counter::TestWinners,
    ];
    const GLOBAL: [Counter; 4] = [Counter::Retries, Counter::RemindersSent, Counter::DigestsSent, Counter::Handoffs];
}

/// Every documented counter, at 0 from start-up (per campaign for those
/// labelled with one): a series that is absent until its first event
/// cannot be told from a daemon that is not there. The campaigns' series;
/// a reload calls it again for the campaigns it adds.
pub fn zero<'a>(campaigns: impl IntoIterator<Item = &'a str>) {
    for id in campaigns {
        for c in Counter::PER_CAMPAIGN {
            count(c, Some(id), 0);
        }
        count(Counter::Pauses, Some(id), 0);
    }
}

/// The series not labelled by campaign, at 0 once at start-up: the label
/// values come from their owners (the inbound kinds, the housekeeping
/// jobs), so this module stays free of them.
pub fn zero_global<'a>(inbound_kinds: impl IntoIterator<Item = &'a str>, jobs: impl IntoIterator<Item = &'a str>) {
    for c in Counter::GLOBAL {
        count(c, None, 0);
    }
    count(Counter::Pauses, Some("all"), 0);
    metrics::counter!("nurture_http_refused_total").increment(0);
    metrics::counter!("nurture_inbound_quarantined_total").increment(0);
    for by in ["person", "machine"] {
        metrics::counter!("nurture_clicks_total", "by" => by).increment(0);
    }
    for kind in inbound_kinds {
        metrics::counter!("nurture_inbound_total", "kind" => kind.to_string()).increment(0);
    }
    for job in jobs {
        for outcome in ["ok", "failed"] {
            metrics::counter!("nurture_housekeeping_runs_total", "job" => job.to_string(), "outcome" => outcome)
                .increment(0);
        }
    }
}

/// A click on a tracked link, a person's or a machine's (`head`,
/// `scanner`, `burst`, `decoy`: the rule that said so when it came).
pub fn click(machine: bool) {
    let who = if machine { "machine" } else { "person" };
    metrics::counter!("nurture_clicks_total", "by" => who).increment(1);
}

/// A webhook request's outcome: `delivered`, `failed` (tried again),
/// `dead`, `gone` (410: the webhook disabled).
pub fn webhook_results(webhook: &str, result: &'static str, n: usize) {
    metrics::counter!("nurture_webhook_events_total", "webhook" => webhook.to_string(), "result" => result)
        .increment(n as u64);
}

/// A webhook's events not delivered yet, and the age of the oldest.
pub fn webhook_backlog(webhook: &str, pending: i64, oldest_seconds: Option<i64>) {
    metrics::gauge!("nurture_webhook_pending", "webhook" => webhook.to_string()).set(pending as f64);
    metrics::gauge!("nurture_webhook_oldest_pending_seconds", "webhook" => webhook.to_string())
        .set(oldest_seconds.unwrap_or(0) as f64);
}

/// Every webhook's series, at 0 from start-up.
pub fn zero_webhooks<'a>(webhooks: impl IntoIterator<Item = &'a str>) {
    for w in webhooks {
        for result in ["delivered", "failed", "dead", "gone"] {
            metrics::counter!("nurture_webhook_events_total", "webhook" => w.to_string(), "result" => result)
                .increment(0);
        }
        webhook_backlog(w, 0, None);
    }
}

/// A supervised task of the daemon panicked (and was started again).
pub fn task_panic(task: &str) {
    metrics::counter!("nurture_task_panics_total", "task" => task.to_string()).increment(1);
}

/// A connection closed as it came: `[http] max_connections` were open.
pub fn http_refused() {
    metrics::counter!("nurture_http_refused_total").increment(1);
}

/// An inbound message set aside in the quarantine folder.
pub fn quarantined() {
    metrics::counter!("nurture_inbound_quarantined_total").increment(1);
}

/// Every supervised task's panic counter, at 0 from start-up.
pub fn zero_tasks<'a>(tasks: impl IntoIterator<Item = &'a str>) {
    for task in tasks {
        metrics::counter!("nurture_task_panics_total", "task" => task.to_string()).increment(0);
    }
}

/// A housekeeping job ran here, and how it ended.
pub fn housekeeping(job: &str, ok: bool) {
    let outcome = if ok { "ok" } else { "failed" };
    metrics::counter!("nurture_housekeeping_runs_total", "job" => job.to_string(), "outcome" => outcome).increment(1);
}

/// Each housekeeping job's last run on any replica (from the database, at
/// scrape time): when, and whether it worked.
pub fn housekeeping_last(job: &str, at: chrono::DateTime<chrono::Utc>, ok: bool) {
    metrics::gauge!("nurture_housekeeping_last_run_timestamp_seconds", "job" => job.to_string())
        .set(at.timestamp() as f64);
    metrics::gauge!("nurture_housekeeping_last_ok", "job" => job.to_string()).set(if ok { 1.0 } else { 0.0 });
}

/// A duration as the logs give it: milliseconds, to a tenth.
pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Add `n` to a counter, labelled with the campaign where it has one.
pub fn count(counter: Counter, campaign: Option<&str>, n: u64) {
    match campaign {
        Some(c) => metrics::counter!(counter.name(), "campaign" => c.to_string()).increment(n),
        None => metrics::counter!(counter.name()).increment(n),
    }
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

/// The backlog gauges, read from the database at scrape time so they are
/// never stale.
pub fn backlog(due_now: i64, active_enrolments: i64, open_tasks: i64) {
    metrics::gauge!("nurture_due_backlog").set(due_now as f64);
    metrics::gauge!("nurture_active_enrolments").set(active_enrolments as f64);
    metrics::gauge!("nurture_open_tasks").set(open_tasks as f64);
}

/// One inbound message handled, by kind (`bounce`, `complaint`,
/// `auto_reply`, `reply`, `unmatched`).
pub fn inbound(kind: &str) {
    metrics::counter!("nurture_inbound_total", "kind" => kind.to_string()).increment(1);
}

/// 1 while the inbound mailbox is reachable and logged in to.
pub fn imap_up(up: bool) {
    metrics::gauge!("nurture_imap_up").set(if up { 1.0 } else { 0.0 });
}

/// 1 while sending is paused for `scope` (a campaign, or `all`).
pub fn paused(scope: &str, paused: bool) {
    metrics::gauge!("nurture_paused", "scope" => scope.to_string()).set(if paused { 1.0 } else { 0.0 });
}

/// 1 while the SMTP server answers, 0 while it is known down.
pub fn smtp_up(up: bool) {
    metrics::gauge!("nurture_smtp_up").set(if up { 1.0 } else { 0.0 });
}

/// Everything recorded so far as Prometheus text; `None` before
/// [`install`].
pub fn render() -> Option<String> {
    HANDLE.get().and_then(Option::as_ref).map(PrometheusHandle::render)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn log_durations_are_milliseconds_to_a_tenth() {
        assert_eq!(super::ms(Duration::from_nanos(7_159_886)), 7.2);
        assert_eq!(super::ms(Duration::from_micros(40)), 0.0);
        assert_eq!(super::ms(Duration::from_secs(2)), 2000.0);
    }
}
