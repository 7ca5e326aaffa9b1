//! `nurture check`: every problem in config, campaigns and templates, one
//! `path:line:col: message` line each on stderr, errors and warnings alike.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use crate::definitions::Definitions;

pub fn run(config: Option<&Path>, now: DateTime<Utc>) -> Result<(), Failure> {
    let (defs, diags) = Definitions::load(config, now);
    eprint!("{diags}");
    let errors = diags.errors().count();
    if errors > 0 {
        return Err(Failure::Invalid(format!("check: {errors} error(s); nothing was changed")));
    }
    let steps: usize = defs.campaigns.iter().map(|c| c.steps.len()).sum();
    println!(
        "ok: {} campaign(s), {steps} step(s), templates in {}",
        defs.campaigns.len(),
        defs.config.templates_dir.display()
    );
    Ok(())
}
