//! `[[webhook]]`: where nurture tells the CRM what happened (README,
//! *Webhooks*): a URL, the event types it wants, the secret its requests
//! are signed with (read from a file, never logged), and how long an event
//! is retried before it is dead.

use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use toml::Spanned;

use super::file::WebhookFile;
use crate::fields::{Fields, nearest};

/// Every event type a webhook may ask for.
pub const EVENTS: [&str; 11] = [
    "lead.ready",
    "lead.replied",
    "lead.status",
    "lead.unsubscribed",
    "lead.bounced",
    "lead.complained",
    "lead.paused",
    "lead.forgotten",
    "task.created",
    "task.done",
    "campaign.paused",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// How logs, metrics and `webhooks list` name it: `name`, else the URL's
    /// host and path.
    pub name: String,
    pub url: String,
    /// The event types it receives (all of [`EVENTS`] when the file lists none).
    pub events: Vec<String>,
    /// The signing secret's file; `None`: requests go unsigned (a warning).
    pub secret_file: Option<PathBuf>,
    /// An event not delivered this long after it happened is dead.
    pub give_up_after: TimeDelta,
    /// One request's limit, connection included.
    pub timeout: TimeDelta,
}

impl Webhook {
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

pub(super) fn resolve(raw: Vec<Spanned<WebhookFile>>, f: &mut Fields, base: &Path) -> Vec<Webhook> {
    let mut out: Vec<Webhook> = Vec::new();
    for spanned in raw {
        let here = Spanned::new(spanned.span(), ());
        let w = spanned.into_inner();
        let Some(url) = f.parse(&w.url, |u| check_url(u)) else { continue };
        let mut events = Vec::new();
        for e in w.events.iter().flat_map(|e| e.iter()) {
            let name = e.get_ref().trim();
            if EVENTS.contains(&name) {
                events.push(name.to_string());
                continue;
            }
            let hint = nearest(name, EVENTS, 3).map(|n| format!("did you mean {n:?}? ")).unwrap_or_default();
            f.error(e, format!("webhook.events: unknown event {name:?}; {hint}known: {}", EVENTS.join(", ")));
        }
        if events.is_empty() {
            events = EVENTS.iter().map(|e| e.to_string()).collect();
        }
        let name = match w.name.as_ref().map(|n| n.get_ref().trim().to_string()).filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => default_name(&url),
        };
        if out.iter().any(|o| o.name == name) {
            f.error(&here, format!("two webhooks are named {name:?}; give each a distinct `name`"));
            continue;
        }
        let secret_file = w.secret_file.filter(|p| !p.trim().is_empty()).map(|p| base.join(p));
        if secret_file.is_none() {
            f.warn(
                &here,
                format!("webhook {name:?} has no secret_file: its requests go unsigned and anyone can forge them"),
            );
        }
        let duration = |f: &mut Fields, v: Option<Spanned<String>>, default: i64| {
            v.and_then(|v| f.duration(&v)).unwrap_or(TimeDelta::seconds(default))
        };
        let give_up_after = duration(f, w.give_up_after, 3 * 86_400);
        let timeout = duration(f, w.timeout, 10);
        out.push(Webhook { name, url, events, secret_file, give_up_after, timeout });
    }
    out
}

/// An http(s) URL with a host; plain http only to this machine (a secret
/// and lead data in the clear otherwise).
fn check_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let u = url::Url::parse(s)
        .map_err(|e| format!("webhook.url {s:?}: {e}; write e.g. \"https://crm.example/hooks/nurture\""))?;
    let local = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match (u.scheme(), u.host_str()) {
        (_, None) => Err(format!("webhook.url {s:?} has no host")),
        ("https", _) => Ok(s.to_string()),
        ("http", _) if local => Ok(s.to_string()),
        ("http", _) => Err(format!("webhook.url {s:?}: use https:// (plain http is only for this machine)")),
        (other, _) => Err(format!("webhook.url {s:?}: scheme {other:?}; write an https:// URL")),
    }
}

/// `crm.example/hooks/nurture` for `https://crm.example/hooks/nurture`.
fn default_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/').to_string()
}
