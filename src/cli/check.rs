//! `nurture check`: every problem in config, campaigns and templates, one
//! `path:line:col: message` line each on stderr, errors and warnings alike.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use crate::definitions::Definitions;

/// `json`: under `--log-format json` (or the config's `log_format`), as
/// in systemd's `ExecStartPre`, every line is a JSON log event instead, so
/// the journal stays JSON.
pub fn run(config: Option<&Path>, now: DateTime<Utc>, json: bool) -> Result<(), Failure> {
    let (defs, diags) = Definitions::load(config, now);
    if json {
        for d in &diags.0 {
            let problem = d.to_string();
            match d.is_error() {
                true => tracing::error!(problem, "Check found a problem."),
                false => tracing::warn!(problem, "Check found a problem."),
            }
        }
    } else {
        eprint!("{diags}");
    }
    let errors = diags.errors().count();
    if errors > 0 {
        return Err(Failure::Invalid(format!("check: {errors} error(s); nothing was changed")));
    }
    let steps: usize = defs.campaigns.iter().map(|c| c.steps.len()).sum();
    let campaigns = defs.campaigns.len();
    let templates = defs.config.templates_dir.display().to_string();
    if json {
        tracing::info!(campaigns, steps, templates, "Check passed.");
    } else {
        println!("ok: {campaigns} campaign(s), {steps} step(s), templates in {templates}");
    }
    Ok(())
}

/// `check --database`: for each campaign with enrolments under way, how
/// many wait at each step and which of them wait at a step the file no
/// longer has (they end at their next step); each webhook disabled. The
/// reload log says more (it knows the previous files): inserted steps
/// skipped, `after` changes.
pub async fn enrolments(config: Option<&Path>, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = super::db::open(config, now).await?;
    for c in &db.defs().campaigns {
        let waiting = db.store().active_by_step(&c.id).await.map_err(super::db::db_error)?;
        if waiting.is_empty() {
            continue;
        }
        let i = crate::campaign::edit::impact(None, c, &waiting);
        let at: Vec<String> = waiting.iter().map(|(s, n)| format!("{n} at {s}")).collect();
        println!("{} ({})", i.summary(), at.join(", "));
    }
    // A webhook a receiver disabled (410 Gone) sends nothing until a
    // replay: a warning, as the other problems a file cannot show.
    for hook in &db.defs().config.webhooks {
        let s = db.store().hook_stats(&hook.name).await.map_err(super::db::db_error)?;
        if let Some((at, why)) = s.disabled {
            eprintln!(
                "warning: webhook {} disabled since {} ({why}); {} event(s) wait: `nurture webhooks replay all` \
                 enables it",
                hook.name,
                crate::template::context::rfc3339(at),
                s.pending
            );
        }
    }
    Ok(())
}
