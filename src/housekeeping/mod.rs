//! The daemon's housekeeping jobs (`[housekeeping]`): a checked backup of
//! a SQLite database and retention. tokio-cron-scheduler fires them on
//! 6-field cron expressions in UTC (its time zones are fixed offsets, fine
//! in UTC; campaign schedules stay on our zone-aware cron). Each fire is
//! claimed through the fire's timer (`housekeeping:JOB`), like a sweep, so
//! one replica among several runs it; its outcome is that timer's note, so
//! `status` and `/metrics` show the last run of every replica's jobs. A
//! failed job is logged and tried again at its next fire; it never stops
//! the daemon.

pub mod backup;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Housekeeping;
use crate::daemon::{Current, current};
use crate::engine::Engine;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Backup,
    Retention,
}

pub const JOBS: [Job; 2] = [Job::Backup, Job::Retention];

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Backup => "backup",
            Job::Retention => "retention",
        }
    }

    fn timer(self) -> String {
        format!("housekeeping:{}", self.name())
    }

    /// Its cron, if the configuration runs it.
    pub fn cron(self, h: &Housekeeping) -> Option<&crate::schedule::cron::CronSpec> {
        match self {
            Job::Backup => h.backup.as_ref(),
            Job::Retention => (h.retention.is_some() || h.webhook_events.is_some()).then_some(&h.expire),
        }
    }
}

/// A job's last run as recorded: when, whether it worked, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastRun {
    pub job: &'static str,
    #[serde(serialize_with = "crate::engine::events::at_utc")]
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub detail: String,
}

/// The work of one job at `now`: what it did, or why it failed.
pub async fn work(engine: &Engine, job: Job, now: DateTime<Utc>) -> Result<String, String> {
    let h = &engine.defs().config.housekeeping;
    match job {
        Job::Backup => backup::take(engine.store().as_ref(), h, now).await,
        Job::Retention => {
            let mut done = vec![match h.retention {
                None => "retention is off".to_string(),
                Some(keep) => {
                    let expired = engine.store().expire(now - keep).await.map_err(|e| e.to_string())?;
                    let counts: Vec<String> = expired.iter().map(|(t, n)| format!("{t} {n}")).collect();
                    let before = crate::template::context::rfc3339(now - keep);
                    match counts.is_empty() {
                        true => format!("nothing older than {before}"),
                        false => format!("text emptied before {before}: {}", counts.join(", ")),
                    }
                }
            }];
            if let Some(keep) = h.webhook_events {
                let n = engine.store().forget_delivered(now - keep).await.map_err(|e| e.to_string())?;
                done.push(format!("{n} delivered webhook events deleted"));
            }
            Ok(done.join("; "))
        }
    }
}

/// The fire of `job` scheduled at `fire`, run at `now` if no replica ran
/// it yet and this one wins its claim. `None`: ran elsewhere (or before).
pub async fn fire(engine: &Engine, job: Job, fire: DateTime<Utc>, now: DateTime<Utc>) -> Option<LastRun> {
    let store = engine.store();
    let timer = job.timer();
    let claimed = async {
        let (last, _) = store.timer_or_start(&timer).await?;
        if last >= fire {
            return Ok(None);
        }
        Ok::<_, crate::store::StoreError>(store.claim_timer(&timer, last).await?.then_some(last))
    };
    let last = match claimed.await {
        Ok(Some(last)) => last,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(job = job.name(), error = %e, "Housekeeping job not run: the database is unavailable; next fire.");
            crate::telemetry::housekeeping(job.name(), false);
            return None;
        }
    };
    let started = std::time::Instant::now();
    let done = work(engine, job, now).await;
    let ok = done.is_ok();
    let detail = done.unwrap_or_else(|e| e);
    let at = crate::template::context::rfc3339(fire);
    let ms = crate::telemetry::ms(started.elapsed());
    match ok {
        true => tracing::info!(job = job.name(), fire = at, detail, duration_ms = ms, "Housekeeping job done."),
        false => tracing::error!(
            job = job.name(),
            fire = at,
            error = detail,
            "Housekeeping job failed; it runs again at its next fire."
        ),
    }
    crate::telemetry::housekeeping(job.name(), ok);
    let note = format!("{}: {detail}", if ok { "ok" } else { "failed" });
    let at = crate::store::timers::after(last, fire);
    if let Err(e) = store.set_timer(&timer, at, &note).await {
        tracing::warn!(job = job.name(), error = %e, "Could not record the housekeeping job's outcome.");
    }
    Some(LastRun { job: job.name(), at, ok, detail })
}

/// Each job's last run, from the database (any replica's).
pub async fn last_runs(store: &dyn Store) -> crate::store::Result<Vec<LastRun>> {
    let mut out = Vec::new();
    for job in JOBS {
        if let Some((at, note)) = store.timer(&job.timer()).await?
            && let Some((outcome, detail)) = note.split_once(": ")
        {
            out.push(LastRun { job: job.name(), at, ok: outcome == "ok", detail: detail.to_string() });
        }
    }
    Ok(out)
}

/// Register the configured jobs on a scheduler and start it. The jobs read
/// the engine current at each fire (a reload's store and definitions);
/// their schedules are the ones at start (README: a change to
/// `[housekeeping]` takes a restart). A fire that panics is recorded in
/// `panics` (task `housekeeping`); the next fire runs as usual.
pub async fn start(
    engine: Current,
    panics: std::sync::Arc<crate::daemon::supervise::Panics>,
) -> Result<Option<tokio_cron_scheduler::JobScheduler>, String> {
    use tokio_cron_scheduler::{Job as Scheduled, JobScheduler};
    let h = current(&engine).defs().config.housekeeping.clone();
    let jobs: Vec<(Job, crate::schedule::cron::CronSpec)> =
        JOBS.iter().filter_map(|j| j.cron(&h).map(|c| (*j, c.clone()))).collect();
    if jobs.is_empty() {
        return Ok(None);
    }
    let scheduler = JobScheduler::new().await.map_err(|e| format!("housekeeping scheduler: {e}"))?;
    for (job, cron) in jobs {
        let (engine, panics) = (engine.clone(), panics.clone());
        let spec = cron.as_str().to_string();
        let scheduled = Scheduled::new_async(spec.as_str(), move |_, _| {
            let (engine, cron, panics) = (engine.clone(), cron.clone(), panics.clone());
            Box::pin(async move {
                let now = crate::daemon::now();
                // The fire's own instant (not the moment it woke), the
                // same on every replica: what the claim is about.
                let at = cron.last_at_or_before(now, chrono_tz::UTC).unwrap_or(now);
                let fired = crate::daemon::supervise::caught(fire(&current(&engine), job, at, now)).await;
                if let Err(panic) = fired {
                    panics.record("housekeeping", &panic);
                }
            })
        })
        .map_err(|e| format!("housekeeping.{} {spec:?}: {e}", job.name()))?;
        scheduler.add(scheduled).await.map_err(|e| format!("housekeeping scheduler: {e}"))?;
        tracing::info!(job = job.name(), cron = spec, "Housekeeping job scheduled (UTC).");
    }
    scheduler.start().await.map_err(|e| format!("housekeeping scheduler: {e}"))?;
    Ok(Some(scheduler))
}
