//! SQLite, the embedded default: one file, WAL so readers never block the
//! writer, and a busy timeout so concurrent CLI commands wait, not fail.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::Result;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<SqliteStore> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if memory {
            // Every connection to ":memory:" is its own database: keep one.
            options = options.shared_cache(true);
        } else {
            if let Some(dir) = std::path::Path::new(options.get_filename()).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            options = options.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal);
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { max_connections.max(1) })
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
