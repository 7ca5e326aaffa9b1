//! Persistence, one file per concept: [`leads`] (and suppressions),
//! [`audience`] (sweep queries), [`enrolments`], [`deliveries`] (the
//! contact history), [`tasks`], [`timers`] (and replicas' claims),
//! [`pauses`] (sending held back), [`report`] (status counts), [`outcomes`]
//! (what each step led to, for `report`), [`copy`] (forecast's scratch
//! copy), and keeping data: [`erase`] (`leads forget`), [`retention`],
//! [`backup`] (SQLite) and [`transfer`] (`db copy`); [`sessions`] (the
//! console's logins); [`signals`] (clicks and what else may make a lead
//! ready); [`variants`] (A/B tests' figures and winners). Each
//! holds its types, its part of the [`Store`] trait and its SQL, written
//! once for both databases; `sql.rs` runs it on either, and `sqlite.rs` /
//! `postgres.rs` own what is theirs alone (connections, migrations, and
//! on PostgreSQL the claims that let replicas share the work).
//!
//! Every query that finds work is indexed by what is due (`due_at` on
//! active enrolments), never a scan of all leads; audience sweeps page
//! through matching leads by id.

pub mod audience;
pub mod backup;
pub mod copy;
pub mod deliveries;
pub mod enrolments;
pub mod erase;
pub mod inbound;
pub mod leads;
mod outbox;
pub mod outcomes;
pub mod pauses;
mod postgres;
pub mod report;
pub mod retention;
pub mod sessions;
pub mod signals;
mod sql;
mod sqlite;
pub mod tasks;
pub mod timers;
pub mod transfer;
pub mod variants;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;

pub use audience::{AudienceQuery, Audiences, Since};
pub use backup::Backups;
pub use copy::{Copied, Copying, Table};
pub use deliveries::{Deliveries, Finish, Kind, Outcome, State, Touch};
pub use enrolments::{Due, DueLead, Enrolments, Next};
pub use erase::{Erased, Erasure};
pub use inbound::{Handled, Inbox, Mark, Sent};
pub use leads::{LeadEvent, Leads, NewLead, Source};
pub use outcomes::{Credited, Outcomes, StepCount, TaskTimes};
pub use pauses::{Pause, Pauses};
pub use report::{Reports, StatusReport};
pub use retention::{Expired, Retention};
pub use sessions::Sessions;
pub use signals::{AnswerGiven, BURST, Click, HandedOff, NewHandoff, Overdue, Signal, Signals};
pub use sqlite::lock_for_daemon;
pub use tasks::{NewTask, TaskRow, Tasks};
pub use timers::Timers;
pub use transfer::{Copied as TableCopied, Transfer};
pub use variants::{SentVariant, StepTest, Variants};
pub use webhooks::{HookStats, Taken, Webhooks};

use crate::replica::{Claimer, DEFAULT_LEASE};
use postgres::PgDb;
use sql::{Conn, Run, Sql};
use sqlite::SqliteDb;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    Url(String),
    /// What this database cannot do, or a file it cannot write: the
    /// message says what to do instead.
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything nurture keeps, on SQLite or PostgreSQL.
#[async_trait]
pub trait Store:
    Leads
    + Audiences
    + Enrolments
    + Deliveries
    + Tasks
    + Timers
    + Pauses
    + Reports
    + Copying
    + Inbox
    + Outcomes
    + Erasure
    + Retention
    + Backups
    + Transfer
    + Sessions
    + Signals
    + Webhooks
    + Variants
{
    async fn migrate(&self) -> Result<()>;
    async fn ping(&self) -> Result<()>;
}

/// The one implementation of [`Store`]: the same SQL on either database.
pub struct Database {
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// How nurture reaches PostgreSQL beyond its URL (`sslmode` and
/// `sslrootcert` are read from the URL as libpq reads them).
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// A transaction-pooling proxy (PgBouncer) stands in between.
    pub pooler: bool,
    /// CA certificates trusted besides the system's store.
    pub ca_file: Option<std::path::PathBuf>,
}

impl PgOptions {
    pub fn of(db: &crate::config::Database) -> PgOptions {
        PgOptions { pooler: db.pooler, ca_file: db.ca_file.clone() }
    }
}

/// Open the database named by `url` (not yet migrated).
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Store>> {
    open_with(url, max_connections, DEFAULT_LEASE, &PgOptions::default()).await
}

/// [`open`], with the lease of this process's claims (`nurture run`) and
/// PostgreSQL's options from the config.
pub async fn open_with(
    url: &str,
    max_connections: u32,
    lease: std::time::Duration,
    pg: &PgOptions,
) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(open_database(url, max_connections, lease, pg).await?))
}

async fn open_database(
    url: &str,
    max_connections: u32,
    lease: std::time::Duration,
    pg: &PgOptions,
) -> Result<Database> {
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite(SqliteDb::open(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres(PgDb::open(url, max_connections, Claimer::new(lease), pg).await?)
    } else {
        return Err(StoreError::Url(url.to_string()));
    };
    Ok(Database { backend })
}

impl Database {
    /// A throwaway SQLite database in a file (`simulate`, `forecast`):
    /// memory stays flat however many leads; foreign keys off, so a
    /// partial copy of a live database can be pasted in.
    pub async fn scratch(path: &std::path::Path) -> Result<Database> {
        Ok(Database { backend: Backend::Sqlite(SqliteDb::scratch(path).await?) })
    }

    async fn conn(&self) -> Result<Conn<'_>> {
        match &self.backend {
            Backend::Sqlite(db) => Ok(db.conn().await),
            Backend::Postgres(db) => db.conn().await,
        }
    }

    /// Where steps' attempts and outcomes are written (see `PgDb::steps`).
    async fn step_conn(&self) -> Result<Conn<'_>> {
        match &self.backend {
            Backend::Sqlite(db) => Ok(db.conn().await),
            Backend::Postgres(db) => db.step_conn().await,
        }
    }

    /// The PostgreSQL side, for what only it does (claims).
    fn postgres(&self) -> Option<&PgDb> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(db) => Some(db),
        }
    }
}

#[async_trait]
impl Store for Database {
    async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(db) => db.migrate().await,
            Backend::Postgres(db) => db.migrate().await,
        }
    }

    async fn ping(&self) -> Result<()> {
        self.conn().await?.execute(Sql::new("SELECT 1")).await?;
        Ok(())
    }
}
