//! `nurture forecast --days N`: what the live database would produce in the
//! next N days, per day, campaign and step (see `crate::forecast`).
//! Read-only but for creating the tables of a new database, as every
//! database command does.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, db_error};

pub async fn run(config: Option<&Path>, days: u32, now: DateTime<Utc>) -> Result<(), Failure> {
    // Migrated like every database command: on a new database there is
    // nothing to forecast, which is an answer, not an error.
    let live = db::open(config, now).await?;
    let counts = crate::forecast::forecast(&live.engine, days, now).await.map_err(db_error)?;
    if counts.is_empty() {
        println!("nothing would happen in the next {days} day(s)");
        return Ok(());
    }
    println!("{:<10}  {:<20}  {:<20}  {:<8}  {:>6}", "day (UTC)", "campaign", "step", "what", "count");
    for ((day, campaign, step, kind), n) in counts {
        println!("{day:<10}  {campaign:<20}  {step:<20}  {kind:<8}  {n:>6}");
    }
    Ok(())
}
