//! Keeping data: `backup [PATH]`, `leads forget EMAIL` and `db copy --to
//! URL` (README, *Keeping data*).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, db_error};
use crate::store::StoreError;

fn store_failure(e: StoreError) -> Failure {
    match e {
        StoreError::Unsupported(why) => Failure::Invalid(why),
        e => db_error(e),
    }
}

/// A checked copy of the SQLite database: at `path`, or in the backup
/// folder under a dated name (older ones beyond `keep_backups` removed).
pub async fn backup(config: Option<&Path>, path: Option<&Path>, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    match path {
        Some(p) => {
            db.store().backup(p).await.map_err(store_failure)?;
            let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            println!("backup: {} ({:.1} MB, integrity ok)", p.display(), size as f64 / 1e6);
        }
        None => {
            let h = &db.defs().config.housekeeping;
            let done = crate::housekeeping::backup::take(db.store(), h, now).await.map_err(Failure::Invalid)?;
            println!("backup: {done}");
        }
    }
    Ok(())
}

/// Erase a lead on request; its address stays suppressed as a keyed hash.
pub async fn forget(config: Option<&Path>, email: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    // The hash is keyed by the link secret: without it, an erased address
    // could not be recognised later.
    let c = &db.defs().config;
    crate::secret::load(c)
        .map_err(|e| Failure::Environment(format!("link secret {}: {e}", crate::secret::path(c).display())))?;
    let erased = db.engine.forget(email, now).await.map_err(|e| db_error(e.to_string()))?;
    let email = email.trim().to_lowercase();
    if erased.contains_key("leads") {
        let rows: Vec<String> = erased.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!("forgot {email}: removed {}", rows.join(", "));
    } else {
        println!("no lead {email}{}", if erased.is_empty() { "" } else { " (its suppression removed)" });
    }
    println!("the address is kept only as a keyed hash: imported again, it is suppressed and never contacted");
    Ok(())
}

/// Everything into an empty PostgreSQL database.
pub async fn copy(config: Option<&Path>, to: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let url = &db.defs().config.database.url;
    // A daemon on the SQLite file would go on sending during the copy, and
    // its sends would be missing on PostgreSQL: refused, and while the copy
    // runs, a daemon cannot start on the file either.
    let _lock = match url.starts_with("sqlite:") {
        true => crate::store::lock_for_daemon(url).map_err(|why| {
            Failure::Invalid(format!("{why}\nstop the daemon before db copy: its sends would be missing from the copy"))
        })?,
        false => None,
    };
    let copied = db.store().copy_into(to).await.map_err(store_failure)?;
    let rows: i64 = copied.iter().map(|c| c.to).sum();
    for c in &copied {
        println!("{:<14}{:>10} rows", c.table, c.to);
    }
    println!(
        "copied {rows} rows in {} tables; every count matches. Now set [database] url to the new database \
         and start the daemon: nothing sent before is sent again.",
        copied.len()
    );
    Ok(())
}
