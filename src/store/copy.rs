//! Copying the engine's state from one store into another, page by page:
//! `forecast` runs the engine on a scratch copy of the live database.

use chrono::{DateTime, Utc};

use super::{Result, Store, Table};

const PAGE: i64 = 2000;

/// Everything the engine reads: leads, all enrolments (again_after needs
/// the ended ones), deliveries since `look_back` (the caps), open tasks
/// (digests), timers, counters and suppressions.
pub async fn copy(from: &dyn Store, to: &dyn Store, look_back: DateTime<Utc>) -> Result<()> {
    for table in [Table::Small, Table::Leads, Table::Enrolments, Table::Deliveries(look_back), Table::OpenTasks] {
        let mut after = 0;
        loop {
            let rows = from.copy_page(table, after, PAGE).await?;
            to.paste(&rows).await?;
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => after = last.id(),
                _ => break,
            }
        }
    }
    Ok(())
}
