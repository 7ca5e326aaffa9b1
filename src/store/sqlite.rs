//! SQLite, the embedded default: one file, WAL so other processes (the CLI
//! beside the daemon) read while it writes, and a busy timeout so they wait
//! instead of failing.
//!
//! One connection behind a mutex rather than a pool: SQLite serialises
//! writers anyway, and sqlx's pool costs more per query (lend, return,
//! wake-ups) than the query itself: ~110 µs against ~40 µs measured here.

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use tokio::sync::Mutex;

use super::Result;
use super::sql::Conn;

pub(super) struct SqliteDb {
    conn: Mutex<SqliteConnection>,
    /// The database file (none in memory): what a backup copies.
    pub path: Option<std::path::PathBuf>,
}

impl SqliteDb {
    pub async fn open(url: &str) -> Result<SqliteDb> {
        // NORMAL is durable in WAL mode except for the last commits before
        // a power cut; the delivery guarantee is about process crashes.
        let options = SqliteConnectOptions::from_str(url)?.foreign_keys(true).synchronous(SqliteSynchronous::Normal);
        SqliteDb::connect(options, url).await
    }

    /// A throwaway database (`simulate`, `forecast`) in a file: memory stays
    /// flat however many leads. Foreign keys are off so a partial copy of a
    /// live database (recent deliveries only) can be pasted in.
    pub async fn scratch(path: &std::path::Path) -> Result<SqliteDb> {
        let options = SqliteConnectOptions::new().filename(path).foreign_keys(false);
        SqliteDb::connect(options.synchronous(SqliteSynchronous::Off), "").await
    }

    async fn connect(options: SqliteConnectOptions, url: &str) -> Result<SqliteDb> {
        // secure_delete: what is deleted is overwritten with zeros, so an
        // erased lead (`leads forget`) leaves nothing readable in free pages.
        let mut options =
            options.create_if_missing(true).busy_timeout(Duration::from_secs(10)).pragma("secure_delete", "on");
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let path = (!memory).then(|| options.get_filename().to_path_buf());
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
        Ok(SqliteDb { conn: Mutex::new(conn), path })
    }

    /// WAL with synchronous=NORMAL already commits without a disk flush,
    /// so outcomes use this same connection.
    pub async fn conn(&self) -> Conn<'_> {
        Conn::Sqlite(self.conn.lock().await)
    }

    pub async fn migrate(&self) -> Result<()> {
        let mut c = self.conn.lock().await;
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
