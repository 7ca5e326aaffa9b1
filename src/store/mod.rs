//! Persistence: leads, enrolments, deliveries (the contact history), tasks,
//! suppressions and timer bookkeeping, behind one [`Store`] trait with a
//! SQLite and a PostgreSQL implementation sharing their SQL (`sql.rs`).
//!
//! Every query that finds work is indexed by what is due (`due_at` on
//! active enrolments), never a scan of all leads; audience sweeps page
//! through matching leads by id.

pub mod copy;
mod postgres;
mod sql;
mod sqlite;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::lead::Lead;
use crate::template::context::HistoryLine;

pub use postgres::PgStore;
pub use sqlite::{SqliteStore, lock_for_daemon};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    Url(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Who this process is among replicas, and how long its claims last if it
/// stops renewing them (it died). Claims are timed by the database's clock.
#[derive(Debug, Clone)]
pub struct Claimer {
    /// `host:pid:random`: unique per process, readable by ops.
    pub owner: String,
    pub lease_seconds: f64,
}

impl Claimer {
    pub fn new(lease: std::time::Duration) -> Claimer {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let mut random = [0u8; 4];
        let _ = getrandom::fill(&mut random);
        let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let owner = format!("{}:{}:{random}", host.trim(), std::process::id());
        Claimer { owner, lease_seconds: lease.as_secs_f64().max(1.0) }
    }
}

/// Default lease (`[database] lease`): a live replica renews its claims
/// every third of it, so it only bounds how long a dead replica's leads
/// wait before another takes them over.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// Open the database named by `url` (not yet migrated).
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Store>> {
    open_replica(url, max_connections, DEFAULT_LEASE).await
}

/// [`open`], with the lease of this process's claims (`nurture run`).
pub async fn open_replica(url: &str, max_connections: u32, lease: std::time::Duration) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, max_connections).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, max_connections, Claimer::new(lease)).await?))
    } else {
        Err(StoreError::Url(url.to_string()))
    }
}

/// A lead as imported or posted: what the CRM knows. `None` fields were
/// not given: an existing lead keeps its value, a new one gets "" (status
/// "new").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewLead {
    /// Lower-cased, validated.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub owner: Option<String>,
    pub status: Option<String>,
    /// `None`: now if the status changed (or the lead is new), else unchanged.
    pub status_changed_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
    pub timezone: Option<String>,
    /// Merged into the lead's attributes.
    pub attributes: BTreeMap<String, String>,
}

/// The SQL-side part of an audience; attributes are filtered in Rust.
#[derive(Debug, Clone)]
pub struct AudienceQuery {
    pub campaign: String,
    pub statuses: Vec<String>,
    pub lost_reasons: Vec<String>,
    /// status_changed_at must be at or before this (min_age).
    pub changed_before: Option<DateTime<Utc>>,
    /// status_changed_at must be at or after this (max_age).
    pub changed_after: Option<DateTime<Utc>>,
    /// Leads that left the campaign after this may not re-enter; `None`:
    /// any earlier enrolment keeps them out.
    pub left_before: Option<DateTime<Utc>>,
    /// Only this lead (enrolment right after a lead changes).
    pub only_lead: Option<i64>,
    /// Only leads that may have started to match since the last sweep.
    pub since: Option<Since>,
}

/// An incremental sweep at `until` after one at `from`: a lead can only
/// have started to match if it changed (`updated_at`), aged past `min_age`,
/// or its last enrolment aged past `again_after` in between.
#[derive(Debug, Clone)]
pub struct Since {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub min_age: Option<chrono::TimeDelta>,
    pub again_after: Option<chrono::TimeDelta>,
}

/// An active enrolment and its next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub enrolment_id: i64,
    pub campaign: String,
    pub lead_id: i64,
    pub step_id: String,
    pub due_at: DateTime<Utc>,
    pub enrolled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DueLead {
    pub due: Due,
    pub lead: Lead,
    pub suppressed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Email,
    Task,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Task => "task",
        }
    }
}

/// Final states of a step (SPEC §3), plus `Sending` while in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Sending,
    Sent,
    Failed,
    Bounced,
    Suppressed,
    Uncertain,
    Cancelled,
}

impl State {
    pub const FINAL: [State; 6] =
        [State::Sent, State::Failed, State::Bounced, State::Suppressed, State::Uncertain, State::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Sending => "sending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Bounced => "bounced",
            State::Suppressed => "suppressed",
            State::Uncertain => "uncertain",
            State::Cancelled => "cancelled",
        }
    }
}

/// What follows a finished step.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Step { step_id: String, due_at: DateTime<Utc> },
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: i64,
    pub lead_id: i64,
    pub lead_email: String,
    pub lead_name: String,
    pub company: String,
    pub campaign: String,
    pub step_id: String,
    pub rep: String,
    pub text: String,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusReport {
    pub active_enrolments: i64,
    pub due_now: i64,
    pub open_tasks: i64,
    pub next_due_at: Option<DateTime<Utc>>,
    /// Deliveries per final state, updated in the last 24 hours.
    pub last_24h: BTreeMap<String, i64>,
    /// Deliveries per final state, all time.
    pub total: BTreeMap<String, i64>,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn migrate(&self) -> Result<()>;
    async fn ping(&self) -> Result<()>;

    /// Insert or update by email, all in one transaction; returns the ids.
    async fn upsert_leads(&self, leads: &[NewLead], now: DateTime<Utc>) -> Result<Vec<i64>>;
    async fn lead(&self, id: i64) -> Result<Option<Lead>>;
    async fn lead_by_email(&self, email: &str) -> Result<Option<Lead>>;
    async fn set_status(&self, lead_id: i64, status: &str, reason: Option<&str>, now: DateTime<Utc>) -> Result<()>;
    async fn record_reply(&self, lead_id: i64, now: DateTime<Utc>) -> Result<()>;
    /// Leads matching `q` with id > `after_id`, not suppressed and not
    /// barred by an earlier enrolment, in id order.
    async fn audience_page(&self, q: &AudienceQuery, after_id: i64, limit: i64) -> Result<Vec<Lead>>;
    /// Enrol, in one statement, the leads with `from < id <= to` that
    /// `audience_page` would return, all with the same first due time;
    /// returns how many. For audiences SQL can judge on its own (no
    /// attribute filter) and windows that do not depend on the lead.
    async fn enrol_matching(
        &self,
        q: &AudienceQuery,
        ids: (i64, i64),
        step_id: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64>;
    /// The highest lead id (0 without leads).
    async fn max_lead_id(&self) -> Result<i64>;

    async fn suppress(&self, email: &str, reason: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Lift a suppression; the lead counts as changed (`updated_at = now`).
    async fn unsuppress(&self, email: &str, now: DateTime<Utc>) -> Result<bool>;
    async fn is_suppressed(&self, email: &str) -> Result<bool>;

    /// (last time, note) of a named timer.
    async fn timer(&self, name: &str) -> Result<Option<(DateTime<Utc>, String)>>;
    async fn set_timer(&self, name: &str, at: DateTime<Utc>, note: &str) -> Result<()>;
    /// Increment and return a named counter (round-robin assignment).
    async fn next_counter(&self, name: &str) -> Result<i64>;

    /// Start an enrolment; false if the lead is already active in it.
    async fn enrol(
        &self,
        campaign: &str,
        lead_id: i64,
        step_id: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(!self.enrol_many(campaign, step_id, &[(lead_id, due_at)], now).await?.is_empty())
    }
    /// Start enrolments in one statement: (lead id, first step's due time)
    /// each. Returns the leads enrolled; those already active are left out.
    async fn enrol_many(
        &self,
        campaign: &str,
        step_id: &str,
        leads: &[(i64, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>>;
    /// Active enrolments due at `now`, oldest first, each with its lead and
    /// whether the lead's address is suppressed: one query per batch. On
    /// PostgreSQL only the leads this replica could claim (see
    /// [`Claimer`]); they stay claimed until [`Store::release_claims`].
    async fn due(&self, now: DateTime<Utc>, campaigns: &[String], limit: i64) -> Result<Vec<DueLead>>;
    /// Extend this replica's claims on leads and timers by a lease.
    async fn renew_claims(&self) -> Result<()>;
    /// Give up this replica's claims on leads (a batch is done).
    async fn release_claims(&self) -> Result<()>;
    /// The right to run a timer's fire whose last run was at `last`: false
    /// if another replica runs it now or already ran it. The claim ends
    /// with [`Store::set_timer`] (or its lease).
    async fn claim_timer(&self, name: &str, last: DateTime<Utc>) -> Result<bool>;
    async fn next_due_at(&self, campaigns: &[String]) -> Result<Option<DateTime<Utc>>>;
    async fn reschedule(&self, enrolment_id: i64, due_at: DateTime<Utc>) -> Result<()>;
    /// A lead's active enrolments, each with its next step.
    async fn active_enrolments(&self, lead_id: i64) -> Result<Vec<Due>>;
    /// End an enrolment, recording `cancelled` for the steps not carried out.
    async fn end_enrolment(
        &self,
        due: &Due,
        reason: &str,
        cancelled: &[(String, Kind)],
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Record an attempt before acting: (delivery id, attempt number), or
    /// `None` if this step of this enrolment was attempted before and is
    /// not waiting for a retry (it must not be repeated).
    async fn begin_delivery(&self, due: &Due, kind: Kind, now: DateTime<Utc>) -> Result<Option<(i64, i64)>> {
        Ok(self.begin_deliveries(&[(due.clone(), kind)], now).await?.pop().flatten())
    }
    /// [`Store::begin_delivery`] for several steps (of distinct enrolments)
    /// in one statement; answers in the order asked.
    async fn begin_deliveries(&self, steps: &[(Due, Kind)], now: DateTime<Utc>) -> Result<Vec<Option<(i64, i64)>>>;
    /// Record each step's outcome (when there is a delivery) and advance
    /// or end its enrolment: two statements in all for those with a
    /// delivery.
    async fn finish_deliveries(&self, steps: &[Finish]) -> Result<()>;
    /// Times of marketing emails (sent, being sent or uncertain) to each of
    /// these leads since `since`, in one query.
    async fn recent_emails_of(
        &self,
        lead_ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<i64, Vec<DateTime<Utc>>>>;
    /// A temporary failure: the delivery waits as `retrying` and the
    /// enrolment is due again at `at`.
    async fn retry_later(&self, delivery_id: i64, due: &Due, reason: &str, at: DateTime<Utc>) -> Result<()>;
    async fn history(&self, lead_id: i64, limit: i64) -> Result<Vec<HistoryLine>>;

    async fn create_task(&self, delivery_id: i64, due: &Due, task: &NewTask) -> Result<i64>;
    async fn open_tasks(&self, rep: Option<&str>) -> Result<Vec<TaskRow>>;
    /// Reps with at least one open task.
    async fn reps_with_open_tasks(&self) -> Result<Vec<String>>;
    async fn task(&self, id: i64) -> Result<Option<TaskRow>>;
    async fn task_done(&self, id: i64, now: DateTime<Utc>) -> Result<bool>;

    async fn status(&self, now: DateTime<Utc>) -> Result<StatusReport>;

    /// Copying (`forecast` works on a copy): pages of rows by id, and their
    /// insertion as they are, ids kept.
    async fn copy_page(&self, table: Table, after_id: i64, limit: i64) -> Result<Vec<Copied>>;
    async fn paste(&self, rows: &[Copied]) -> Result<()>;
}

/// Tables `copy_page` reads; timers, counters and suppressions are small and
/// come whole in the first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Leads,
    Enrolments,
    /// Only deliveries updated at or after the given time (the caps' look-back).
    Deliveries(DateTime<Utc>),
    OpenTasks,
    Small,
}

/// One copied row; the engine's state, not a user-facing type.
#[derive(Debug, Clone, PartialEq)]
pub enum Copied {
    Lead(Lead),
    Enrolment {
        id: i64,
        campaign: String,
        lead_id: i64,
        active: bool,
        enrolled_at: DateTime<Utc>,
        step_id: Option<String>,
        due_at: Option<DateTime<Utc>>,
        last_step_id: Option<String>,
        ended_at: Option<DateTime<Utc>>,
        end_reason: Option<String>,
    },
    Delivery {
        id: i64,
        enrolment_id: i64,
        lead_id: i64,
        campaign: String,
        step_id: String,
        kind: String,
        state: String,
        updated_at: DateTime<Utc>,
    },
    Task(TaskRow),
    Timer(String, DateTime<Utc>, String),
    Counter(String, i64),
    Suppression(String, String, DateTime<Utc>),
}

impl Copied {
    /// The id paging continues after.
    pub fn id(&self) -> i64 {
        match self {
            Copied::Lead(l) => l.id,
            Copied::Enrolment { id, .. } | Copied::Delivery { id, .. } => *id,
            Copied::Task(t) => t.id,
            _ => 0,
        }
    }
}

/// One step's outcome to record, and what follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// `None`: found attempted before; only a `sending` record is settled.
    pub delivery_id: Option<i64>,
    pub due: Due,
    pub outcome: Outcome,
    pub next: Next,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: State,
    pub reason: String,
    pub subject: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub rep: String,
    pub text: String,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}
