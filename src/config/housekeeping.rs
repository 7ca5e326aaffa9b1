//! `[housekeeping]`: the daemon's own recurring jobs (README,
//! *Housekeeping*), on 6-field cron expressions read in UTC: a checked
//! backup of a SQLite database kept `keep_backups` deep, and retention,
//! which empties the text of what is older than `retention`.

use std::path::{Path, PathBuf};

use chrono::TimeDelta;

use super::file::HousekeepingFile;
use crate::fields::Fields;
use crate::schedule::cron::CronSpec;

#[derive(Debug, Clone)]
pub struct Housekeeping {
    /// When the backup runs; `None`: never (set to "", or PostgreSQL).
    pub backup: Option<CronSpec>,
    pub keep_backups: usize,
    pub backup_dir: PathBuf,
    /// `None`: everything is kept (set to "").
    pub retention: Option<TimeDelta>,
    /// How long an event delivered to every webhook that wanted it is kept
    /// after it happened; `None`: for ever (set to "").
    pub webhook_events: Option<TimeDelta>,
    /// When retention runs.
    pub expire: CronSpec,
}

const BACKUP: &str = "0 0 3 * * *";
const EXPIRE: &str = "0 30 3 * * *";

fn six_fields(s: &str, key: &str) -> Result<CronSpec, String> {
    let fields = s.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "housekeeping.{key} {s:?} has {fields} fields; housekeeping jobs take 6, seconds first, read in UTC \
             (e.g. \"0 0 3 * * *\": 03:00:00 UTC daily)"
        ));
    }
    CronSpec::parse(s).map_err(|e| format!("housekeeping.{key}: {e}"))
}

/// A keeping period of at least a day: `default` when unset, `None` when
/// set to "" (which does what `empty` says).
fn period(
    f: &mut Fields,
    raw: &Option<toml::Spanned<String>>,
    key: &str,
    empty: &str,
    default: TimeDelta,
) -> Option<TimeDelta> {
    match raw {
        Some(r) if r.get_ref().trim().is_empty() => None,
        Some(r) => match f.duration(r) {
            Some(d) if d < TimeDelta::days(1) => {
                f.error(r, format!("housekeeping.{key} must be at least 1d (or \"\" to {empty})"));
                None
            }
            d => d,
        },
        None => Some(default),
    }
}

/// `db_url` is the database URL as resolved (a SQLite path made absolute).
pub(super) fn resolve(raw: HousekeepingFile, f: &mut Fields, base: &Path, db_url: &str) -> Housekeeping {
    let postgres = !db_url.starts_with("sqlite:");
    let backup = match &raw.backup {
        Some(b) if b.get_ref().trim().is_empty() => None,
        Some(b) if postgres => {
            f.warn(b, "housekeeping.backup copies a SQLite database; on PostgreSQL use pg_dump (deploy/INSTALL.md)");
            None
        }
        Some(b) => f.parse(b, |s| six_fields(s.trim(), "backup")),
        None if postgres => None,
        None => CronSpec::parse(BACKUP).ok(),
    };
    let keep_backups = match raw.keep_backups {
        Some(k) if *k.get_ref() == 0 => {
            f.error(&k, "housekeeping.keep_backups must be at least 1 (set backup = \"\" to take none)");
            7
        }
        Some(k) => *k.get_ref() as usize,
        None => 7,
    };
    let retention = period(f, &raw.retention, "retention", "keep everything", TimeDelta::days(730));
    let webhook_events = period(f, &raw.webhook_events, "webhook_events", "keep every event", TimeDelta::days(7));
    let expire = match &raw.expire {
        Some(e) => f.parse(e, |s| six_fields(s.trim(), "expire")),
        None => None,
    };
    // By default beside the database file (`var/backups/` in a project,
    // `/var/lib/nurture/backups/` as packaged: a folder the unit may write).
    let beside = db_url
        .strip_prefix("sqlite://")
        .map(|p| Path::new(p.split('?').next().unwrap_or(p)))
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join("backups"));
    let dir = raw.backup_dir.map(|d| d.into_inner()).filter(|d| !d.trim().is_empty());
    Housekeeping {
        backup,
        keep_backups,
        backup_dir: match (dir, beside) {
            (Some(d), _) => base.join(d),
            (None, Some(b)) => b,
            (None, None) => base.join("var/backups"),
        },
        retention,
        webhook_events,
        expire: expire.or_else(|| CronSpec::parse(EXPIRE).ok()).expect("the default cron parses"),
    }
}
