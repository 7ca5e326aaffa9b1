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
