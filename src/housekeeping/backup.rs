//! The backup job's files: `nurture-YYYYMMDDTHHMMSSZ.db` in
//! `[housekeeping] backup_dir`, each a checked copy (`store::backup`), the
//! newest `keep_backups` kept. The names sort by time, so pruning needs no
//! clock and no metadata.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Housekeeping;
use crate::store::Store;

const PREFIX: &str = "nurture-";
const SUFFIX: &str = ".db";

pub fn name(now: DateTime<Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", now.format("%Y%m%dT%H%M%SZ"))
}

/// A backup into the backup folder, then the oldest beyond `keep_backups`
/// removed: what was done, for the log and the job's outcome.
pub async fn take(store: &dyn Store, h: &Housekeeping, now: DateTime<Utc>) -> Result<String, String> {
    let path = h.backup_dir.join(name(now));
    store.backup(&path).await.map_err(|e| e.to_string())?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let removed = prune(&h.backup_dir, h.keep_backups).map_err(|e| format!("{}: {e}", h.backup_dir.display()))?;
    Ok(format!(
        "{} ({:.1} MB, integrity ok); {} older removed, {} kept",
        path.display(),
        size as f64 / 1e6,
        removed.len(),
        backups(&h.backup_dir).map(|b| b.len()).unwrap_or(0)
    ))
}

/// The backups in `dir`, oldest first.
pub fn backups(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(PREFIX) && name.ends_with(SUFFIX)
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Remove all but the newest `keep`; the ones removed.
fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let all = backups(dir)?;
    let extra = all.len().saturating_sub(keep);
    let old: Vec<PathBuf> = all.into_iter().take(extra).collect();
    for p in &old {
        std::fs::remove_file(p)?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_pruning_keeps_the_newest() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(name(t("2026-12-03T03:00:00Z")), "nurture-20261203T030000Z.db");
        let dir = tempfile::tempdir().unwrap();
        for day in ["2026-12-01", "2026-11-30", "2026-12-03", "2026-12-02"] {
            std::fs::write(dir.path().join(name(t(&format!("{day}T03:00:00Z")))), b"x").unwrap();
        }
        std::fs::write(dir.path().join("nurture-20261204T030000Z.partial"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let removed = prune(dir.path(), 2).unwrap();
        let names = |v: Vec<PathBuf>| {
            v.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>()
        };
        assert_eq!(names(removed), ["nurture-20261130T030000Z.db", "nurture-20261201T030000Z.db"]);
        assert_eq!(names(backups(dir.path()).unwrap()), ["nurture-20261202T030000Z.db", "nurture-20261203T030000Z.db"]);
        assert!(dir.path().join("notes.txt").exists(), "other files are left alone");
    }
}
