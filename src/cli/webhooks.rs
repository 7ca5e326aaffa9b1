//! `webhooks list|replay|test`: each webhook's deliveries (delivered,
//! pending, dead, the oldest pending's age, the last error), dead events
//! sent again, and a signed sample sent to a URL with its answer printed.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use super::db::{self, db_error};
use crate::template::context::rfc3339;

pub async fn list(config: Option<&Path>, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let hooks = &db.defs().config.webhooks;
    if hooks.is_empty() {
        println!("no [[webhook]] in the config");
    }
    for h in hooks {
        let s = db.engine.store().hook_stats(&h.name).await.map_err(db_error)?;
        let oldest = s.oldest_pending.map(|t| crate::report::human((now - t).num_seconds().max(0)));
        println!(
            "{}  {}\n  delivered {}, pending {}{}, dead {}",
            h.name,
            h.url,
            s.delivered,
            s.pending,
            oldest.map(|o| format!(" (oldest {o} old)")).unwrap_or_default(),
            s.dead
        );
        if let Some((at, why)) = &s.disabled {
            println!("  DISABLED since {}: {why}; `nurture webhooks replay all` enables it", rfc3339(*at));
        }
        if !s.last_error.is_empty() {
            println!("  last error: {}", s.last_error);
        }
    }
    Ok(())
}

/// `ID` (an event id, `evt_...`) or `all`: dead deliveries pending again.
pub async fn replay(config: Option<&Path>, what: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = db::open(config, now).await?;
    let uid = (what != "all").then_some(what);
    if let Some(uid) = uid
        && !uid.starts_with("evt_")
    {
        return Err(Failure::Usage(format!("webhooks replay {uid:?}: give an event id (evt_...) or `all`")));
    }
    let n = db.engine.store().replay(None, uid, now).await.map_err(db_error)?;
    println!("{n} dead deliveries sent again; disabled webhooks enabled");
    Ok(())
}

/// A signed sample event POSTed to `url` (with the secret of the webhook
/// of that URL in the config, if any); the answer printed. Exit 1 unless
/// it is a 2xx.
pub async fn test(config: Option<&Path>, url: &str, now: DateTime<Utc>) -> Result<(), Failure> {
    let (defs, _) = crate::definitions::Definitions::load(config, now);
    let hook = defs.config.webhooks.iter().find(|h| h.url == url);
    let body = serde_json::json!({
        "id": "evt_test", "type": "test", "at": rfc3339(now),
        "lead": { "email": "sample@example.com", "status": "nurturing" },
        "data": { "note": "a sample from `nurture webhooks test`" },
    })
    .to_string();
    let secret = match hook.and_then(|h| h.secret_file.as_ref()) {
        Some(path) => Some(crate::webhooks::sign::read_secret(path).map_err(Failure::Environment)?),
        None => None,
    };
    let headers =
        crate::webhooks::sign::headers("evt_test", "test", secret.as_deref(), now.timestamp(), body.as_bytes());
    let limit = hook.map_or(std::time::Duration::from_secs(10), |h| h.timeout.to_std().unwrap_or_default());
    match crate::webhooks::post::post(url, &headers, body.into_bytes(), limit).await {
        Ok(code) if (200..300).contains(&code) => {
            println!("{url}: {code}");
            Ok(())
        }
        Ok(code) => Err(Failure::Environment(format!("{url}: answered {code}"))),
        Err(e) => Err(Failure::Environment(format!("{url}: {e}"))),
    }
}
