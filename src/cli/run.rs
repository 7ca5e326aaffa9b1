//! `nurture run`: check everything, open the database (exit 3 if it is
//! unreachable) and the mail transport (a server that is down is waited
//! for, not a reason to exit), then tick until stopped.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::Failure;
use crate::config::Transport;
use crate::daemon::{self, Signals, now};
use crate::definitions::Definitions;
use crate::links::Links;
use crate::mail::Mailer;
use crate::mail::health::Watched;
use crate::mail::outbox::Outbox;
use crate::mail::smtp::Smtp;
use crate::mail::throttle::Throttled;

fn load(config: Option<&Path>) -> Option<Definitions> {
    let (defs, diags) = Definitions::load(config, now());
    for d in &diags.0 {
        if d.is_error() {
            tracing::error!("{d}");
        } else {
            tracing::warn!("{d}");
        }
    }
    (!diags.has_errors()).then_some(defs)
}

pub async fn run(config: Option<&Path>) -> Result<(), Failure> {
    let defs =
        load(config).ok_or_else(|| Failure::Invalid("run: fix the errors above (see `nurture check`)".into()))?;
    let c = defs.config.clone();
    // First: what the start-up records (the mail server's state) counts.
    crate::telemetry::install();
    let _one_daemon = match c.database.url.starts_with("sqlite:") {
        true => crate::store::lock_for_daemon(&c.database.url).map_err(Failure::Environment)?,
        false => None,
    };
    let lease = c.database.lease.to_std().unwrap_or(crate::replica::DEFAULT_LEASE);
    let url = c.database.connect_url().map_err(Failure::Environment)?;
    let store = crate::store::open_replica(&url, c.database.max_connections, lease)
        .await
        .map_err(|e| Failure::Environment(format!("cannot open {}: {e}", c.database.url)))?;
    store.migrate().await.map_err(|e| Failure::Environment(e.to_string()))?;
    let rate = c.mail.rate_per_second;
    let mailer: Arc<dyn Mailer> = match c.mail.transport {
        Transport::Outbox => {
            let outbox = Outbox::new(&c.mail);
            if rate > 0 { Arc::new(Throttled::new(outbox, rate)) } else { Arc::new(outbox) }
        }
        Transport::Smtp => {
            // A server that is down is a state, not a reason to exit: HTTP
            // keeps taking leads and unsubscribes, and sending starts when
            // it answers (mail/health.rs).
            let smtp = Smtp::new(&c.mail).map_err(Failure::Invalid)?;
            let first = smtp.check().await.map_err(|e| format!("{}: {e}", redact(&c.mail.smtp_url)));
            let smtp = Watched::new(smtp, first);
            if rate > 0 { Arc::new(Throttled::new(smtp, rate)) } else { Arc::new(smtp) }
        }
    };
    let key = crate::secret::load(&c)
        .map_err(|e| Failure::Environment(format!("link secret {}: {e}", crate::secret::path(&c).display())))?;
    let previous = crate::secret::load_previous(&c).map_err(Failure::Environment)?;
    let links = Links::new(&c.http.public_url, &key).with_previous(previous);
    let signals = Signals::install().map_err(|e| Failure::Environment(format!("signals: {e}")))?;
    let make = {
        let (store, mailer, links) = (store.clone(), mailer.clone(), links.clone());
        move |d: Definitions| daemon::engine(d, store.clone(), mailer.clone(), links.clone())
    };
    crate::telemetry::zero_global(
        crate::inbound::Kind::ALL.map(crate::inbound::Kind::as_str),
        crate::housekeeping::JOBS.map(crate::housekeeping::Job::name),
    );
    crate::telemetry::zero(defs.campaigns.iter().map(|c| c.id.as_str()));
    if c.mail.transport == Transport::Outbox {
        crate::telemetry::smtp_up(true);
    }
    let engine = Arc::new(RwLock::new(Arc::new(make(defs))));
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let mailbox = c.inbound.imap_url.is_some().then(|| Arc::new(crate::mailbox::Health::default()));
    let http = match c.http.bind {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|e| Failure::Environment(format!("http.bind {bind}: {e}")))?;
            let api_token = match &c.http.api_token_file {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| Failure::Environment(format!("http.api_token_file {}: {e}", p.display())))?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            let console = match &c.http.console_users_file {
                Some(p) => {
                    let users = crate::http::console::Users::load(p).map_err(Failure::Invalid)?;
                    let secure = c.http.public_url.starts_with("https://");
                    let sessions = crate::http::console::Sessions::new(links.derived_key("console"), secure);
                    let console = Arc::new(crate::http::console::Console::new(users, sessions));
                    tokio::spawn(crate::http::console::forecasts(console.clone(), engine.clone()));
                    Some(console)
                }
                None => None,
            };
            let app = crate::http::router(crate::http::AppState {
                engine: engine.clone(),
                api_token,
                mailbox: mailbox.clone(),
                console,
            });
            tracing::info!(%bind, "HTTP listening.");
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, app).with_graceful_shutdown(async { stopped.await.unwrap_or(()) }).await;
            }))
        }
        None => None,
    };
    let mail = match c.mail.transport {
        Transport::Outbox => format!("outbox {}", c.mail.outbox_dir.display()),
        Transport::Smtp => redact(&c.mail.smtp_url),
    };
    tracing::info!(
        database = %redact(&c.database.url),
        mail,
        campaigns = crate::daemon::current(&engine).defs().campaigns.len(),
        "nurture running."
    );
    let heartbeat = tokio::spawn(daemon::heartbeat(store.clone(), lease));
    let mut housekeeping = crate::housekeeping::start(engine.clone()).await.map_err(Failure::Invalid)?;
    let (stop_reading, reading) = tokio::sync::watch::channel(false);
    let reader = mailbox.clone().map(|h| tokio::spawn(crate::mailbox::read(engine.clone(), h, reading)));
    crate::daemon::notify::ready("running");
    let path: Option<PathBuf> = config.map(Path::to_path_buf);
    daemon::run(engine, signals, move || load(path.as_deref()).map(&make)).await;
    // The message in hand is finished and filed; an IDLE ends at once.
    let _ = stop_reading.send(true);
    if let Some(r) = reader
        && tokio::time::timeout(std::time::Duration::from_secs(5), r).await.is_err()
    {
        tracing::warn!("The inbound mailbox did not stop in time; its message is handled again at the next start.");
    }
    heartbeat.abort();
    if let Some(s) = housekeeping.as_mut() {
        let _ = s.shutdown().await;
    }
    // Whatever is still claimed (a stop mid-batch) goes back to the others now.
    if let Err(e) = store.release_claims().await {
        tracing::warn!(error = %e, "Could not release claims; they expire with their lease.");
    }
    let _ = stop_http.send(());
    if let Some(h) = http {
        let _ = h.await;
    }
    tracing::info!("nurture stopped.");
    Ok(())
}

/// A URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords_and_keeps_the_rest() {
        assert_eq!(redact("postgres://app:s3cret@db/nurture"), "postgres://app:***@db/nurture");
        assert_eq!(redact("postgres://app@db/nurture"), "postgres://app@db/nurture");
        assert_eq!(redact("smtp://127.0.0.1:25"), "smtp://127.0.0.1:25");
        assert_eq!(redact("smtps://u:p@ss:w@mx:465"), "smtps://u:***@mx:465");
    }
}
