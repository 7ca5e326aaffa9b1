//! Backups of a SQLite database (`nurture backup`, the `backup`
//! housekeeping job): `VACUUM INTO` on a connection of its own, so the copy
//! is one consistent snapshot taken while the daemon goes on writing
//! (WAL readers do not block the writer), then `PRAGMA integrity_check` on
//! the copy before it takes its final name. PostgreSQL has `pg_dump`.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::{Backend, Database, Result, StoreError};

#[async_trait]
pub trait Backups: Send + Sync {
    /// A checked copy of the database at `to` (which must not exist).
    async fn backup(&self, to: &Path) -> Result<()>;
}

#[async_trait]
impl Backups for Database {
    async fn backup(&self, to: &Path) -> Result<()> {
        let from = match &self.backend {
            Backend::Sqlite(db) => db.path.clone(),
            Backend::Postgres(_) => None,
        };
        let Some(from) = from else {
            return Err(StoreError::Unsupported(
                "backup copies a SQLite database file; for PostgreSQL use pg_dump (deploy/INSTALL.md, Backups)".into(),
            ));
        };
        if to.exists() {
            return Err(StoreError::Unsupported(format!("{} exists; name a new file", to.display())));
        }
        if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        // Written beside its final name, renamed once checked: a backup
        // file that exists is whole.
        let partial = to.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let open = |path: &Path| {
            SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(30)).foreign_keys(false)
        };
        {
            let mut c = open(&from).connect().await?;
            let into = partial.to_string_lossy().into_owned();
            sqlx::query("VACUUM INTO $1").bind(into).execute(&mut c).await?;
        }
        let checked: Vec<String> = {
            let mut c = open(&partial).connect().await?;
            sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut c).await?
        };
        if checked != ["ok"] {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::Unsupported(format!(
                "the copy of {} failed its integrity check: {}",
                from.display(),
                checked.join("; ")
            )));
        }
        std::fs::rename(&partial, to).map_err(|e| io(to, e))?;
        Ok(())
    }
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unsupported(format!("{}: {e}", path.display()))
}
