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
        // Switching a new file to WAL needs it to itself for a moment: a
        // second process opening the same new file then gets "database is
        // locked" at once, whatever the busy timeout. Another try succeeds.
        let mut tries = 0;
        let conn = loop {
            match options.connect().await {
                Ok(c) => break c,
                Err(_) if tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    /// Write transactions take the write lock up front: a deferred one that
    /// reads first cannot upgrade once another process (the daemon beside
    /// a CLI command) has written meanwhile (SQLITE_BUSY_SNAPSHOT, which
    /// waiting does not cure); an immediate one waits its turn instead.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    /// One process per file (see [`lock_for_daemon`]): nothing to claim.
    fn claimer(&self) -> Option<&super::Claimer> {
        None
    }

    async fn conn(&self) -> Result<MutexGuard<'_, SqliteConnection>> {
        Ok(self.conn.lock().await)
    }

    /// WAL with synchronous=NORMAL already commits without a disk flush.
    async fn outcome_conn(&self) -> Result<MutexGuard<'_, SqliteConnection>> {
        self.conn().await
    }

    async fn run_migrations(&self) -> Result<()> {
        let mut c = self.conn().await?;
        // `run` needs an `Acquire` that a borrowed connection cannot give
        // inside an async trait (sqlx #1015); `run_direct` is what it calls.
        // It takes no lock on SQLite: two processes opening a new file at
        // once (the daemon and a CLI command) can both start migrating, and
        // the loser fails. It then finds the work done on a second look.
        let mut tries = 0;
        loop {
            match sqlx::migrate!("migrations/sqlite").run_direct(None, &mut *c, false).await {
                Ok(()) => return Ok(()),
                Err(_) if tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn close(self) -> Result<()> {
        Ok(self.conn.into_inner().close().await?)
    }
}

/// `nurture run` on SQLite holds an exclusive lock on `DB.run.lock` for
/// its lifetime: a second daemon on the same file is refused at start-up
/// (SQLite has no way to share due work between processes). The lock dies
/// with the process, however it ends. `Ok(None)` for in-memory databases.
pub fn lock_for_daemon(url: &str) -> std::result::Result<Option<std::fs::File>, String> {
    use std::io::Write;
    let options = SqliteConnectOptions::from_str(url).map_err(|e| e.to_string())?;
    let db = options.get_filename();
    if url.contains(":memory:") || url.contains("mode=memory") || db.as_os_str().is_empty() {
        return Ok(None);
    }
    if let Some(dir) = db.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let path = std::path::PathBuf::from(format!("{}.run.lock", db.display()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if file.try_lock().is_err() {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        return Err(format!(
            "another `nurture run` ({}) is using {}: SQLite serves one daemon; \
             stop it first, or move to PostgreSQL to run replicas (deploy/INSTALL.md)",
            holder.trim(),
            db.display()
        ));
    }
    let _ = file.set_len(0);
    let _ = write!(file, "pid {}", std::process::id());
    Ok(Some(file))
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
