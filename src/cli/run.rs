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
    let store =
        crate::store::open_with(&url, c.database.max_connections, lease, &crate::store::PgOptions::of(&c.database))
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
    // One wake-up for every engine a reload makes: a lead posted while a
    // reload swaps engines still wakes the loop.
    let wakeup = Arc::new(tokio::sync::Notify::new());
    let make = {
        let (store, mailer, links) = (store.clone(), mailer.clone(), links.clone());
        move |d: Definitions| {
            daemon::engine(d, store.clone(), mailer.clone(), links.clone()).with_wakeup(wakeup.clone())
        }
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
    // Every long-lived task under one supervisor: one token stops them
    // all, a panic is logged, counted, shown and the task started again.
    let tasks = daemon::Supervisor::new();
    crate::telemetry::zero_tasks(daemon::supervise::TASKS);
    let mailbox = c.inbound.imap_url.is_some().then(|| Arc::new(crate::mailbox::Health::default()));
    let mut console_in_force = None;
    if let Some(bind) = c.http.bind {
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
                let console = Arc::new(crate::http::console::Console::new(p.clone(), users, sessions));
                console_in_force = Some(console.clone());
                let (c, e) = (console.clone(), engine.clone());
                tasks.spawn("forecast", move |stop| {
                    let work = crate::http::console::forecasts(c.clone(), e.clone());
                    async move {
                        let _ = stop.run_until_cancelled_owned(work).await;
                    }
                });
                Some(console)
            }
            None => None,
        };
        let (clicks, queue) = crate::http::clicks::queue();
        let e = engine.clone();
        tasks.spawn("clicks", move |stop| crate::http::clicks::writer(e.clone(), queue.clone(), stop));
        let app = crate::http::router(crate::http::AppState {
            engine: engine.clone(),
            api_token,
            mailbox: mailbox.clone(),
            console,
            tasks: tasks.panics(),
            clients: crate::http::client::Clients::new(c.http.trusted_proxies.clone()),
            clicks,
        });
        tracing::info!(%bind, "HTTP listening.");
        let listener = Arc::new(listener);
        let max = c.http.max_connections as usize;
        tasks.spawn("http", move |stop| {
            let (listener, app) = (listener.clone(), app.clone());
            async move { crate::http::serve::serve(&listener, app, max, stop).await }
        });
    }
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
    // The webhook sender reads the webhooks of the config in force each
    // round: a reload adding the first one needs no restart.
    crate::telemetry::zero_webhooks(
        crate::daemon::current(&engine).defs().config.webhooks.iter().map(|w| w.name.as_str()),
    );
    let e = engine.clone();
    tasks.spawn("webhooks", move |stop| crate::webhooks::send::run(e.clone(), stop));
    let renewing = store.clone();
    tasks.spawn("claims", move |stop| {
        let work = daemon::heartbeat(renewing.clone(), lease);
        async move {
            let _ = stop.run_until_cancelled_owned(work).await;
        }
    });
    let mut housekeeping =
        crate::housekeeping::start(engine.clone(), tasks.panics()).await.map_err(Failure::Invalid)?;
    if let Some(h) = mailbox.clone() {
        let e = engine.clone();
        tasks.spawn("mailbox", move |stop| crate::mailbox::read(e.clone(), h.clone(), stop));
    }
    crate::daemon::notify::ready("running");
    let path: Option<PathBuf> = config.map(Path::to_path_buf);
    let reload = move || {
        if let Some(console) = &console_in_force {
            console.reload_users();
        }
        load(path.as_deref()).map(&make)
    };
    daemon::run(engine, signals, tasks.panics(), reload).await;
    if let Some(s) = housekeeping.as_mut() {
        let _ = s.shutdown().await;
    }
    // The message in hand is finished and filed; an IDLE ends at once;
    // requests in progress are answered. Within the 10 s a stop promises,
    // after the tick's 8 s grace.
    if !tasks.shutdown(std::time::Duration::from_millis(1500)).await {
        tracing::warn!("A task did not stop in time; an inbound message in hand is handled again at the next start.");
    }
    // Whatever is still claimed (a stop mid-batch) goes back to the others now.
    if let Err(e) = store.release_claims().await {
        tracing::warn!(error = %e, "Could not release claims; they expire with their lease.");
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
