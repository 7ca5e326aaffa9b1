//! `nurture inbound [FILE]`: one message from an MTA pipe, a mail filter or
//! a file, classified and applied; one JSON line out. A database that
//! cannot be reached exits 75 (EX_TEMPFAIL), so the MTA keeps the message
//! and tries again.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db;
use crate::config::Transport;
use crate::mail::Mailer;

/// Larger messages are not read to the end: no report or reply needs it.
const MAX_MESSAGE: u64 = 32 * 1024 * 1024;

pub async fn run(config: Option<&Path>, file: Option<&Path>, now: DateTime<Utc>) -> Result<(), Failure> {
    let mut raw = vec![];
    let read = match file {
        Some(p) => std::fs::File::open(p).and_then(|f| f.take(MAX_MESSAGE).read_to_end(&mut raw)),
        None => std::io::stdin().take(MAX_MESSAGE).read_to_end(&mut raw),
    };
    let from = file.map_or("standard input".to_string(), |p| p.display().to_string());
    read.map_err(|e| Failure::Invalid(format!("{from}: {e}")))?;
    let tempfail = |f: Failure| match f {
        Failure::Environment(e) => Failure::TempFail(e),
        other => other,
    };
    let db = db::open_with(config, now, mailer).await.map_err(tempfail)?;
    let applied = db.engine.inbound(&raw, now).await.map_err(|e| Failure::TempFail(format!("database: {e}")))?;
    println!("{}", serde_json::to_string(&applied).unwrap_or_default());
    Ok(())
}

/// The configured transport, for the reply notice to the lead's owner.
fn mailer(c: &crate::config::Config) -> Result<Arc<dyn Mailer>, Failure> {
    Ok(match c.mail.transport {
        Transport::Outbox => Arc::new(crate::mail::outbox::Outbox::new(&c.mail)),
        Transport::Smtp => Arc::new(crate::mail::smtp::Smtp::new(&c.mail).map_err(Failure::Invalid)?),
    })
}
