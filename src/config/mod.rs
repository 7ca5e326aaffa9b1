//! Daemon configuration: `nurture.toml` with a default for every key,
//! relative paths resolved against the file's folder, and the
//! `NURTURE_DATABASE_URL` override.
//!
//! Loading never stops at the first bad value: each bad key is reported at
//! its position and replaced by its default, so `check` can go on to the
//! campaigns and report everything in one run.

mod file;
pub mod guardrails;
pub mod housekeeping;
pub mod inbound;
pub mod readiness;
pub mod report;
pub mod reps;
pub mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use chrono_tz::Tz;

use crate::diag::{Diagnostic, Diagnostics};
use crate::fields::{Fields, parse_toml};
use crate::schedule::{Caps, CronSpec};
use crate::source::Source;
use file::ConfigFile;
pub use guardrails::Guardrails;
pub use housekeeping::Housekeeping;
pub use inbound::Inbound;
pub use readiness::{Answer, Handoff, Scoring, Tracking};
pub use report::Report;
pub use reps::Rep;
pub use webhooks::Webhook;

pub const DEFAULT_STATUSES: [&str; 6] = ["new", "nurturing", "sales_ready", "won", "lost", "disqualified"];

#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, if any; diagnostics about config keys name it.
    pub file: PathBuf,
    /// `log_format`, when set; `--log-format` wins over it.
    pub log_format: Option<LogFormat>,
    pub database: Database,
    pub mail: Mail,
    pub tick: TimeDelta,
    pub timezone: Tz,
    pub policy: Policy,
    pub guardrails: Guardrails,
    pub report: Report,
    pub housekeeping: Housekeeping,
    pub inbound: Inbound,
    pub tracking: Tracking,
    pub scoring: Scoring,
    pub handoff: Handoff,
    pub answers: Vec<Answer>,
    /// `[[webhook]]`s, in the file's order.
    pub webhooks: Vec<Webhook>,
    pub statuses: Vec<String>,
    pub digest: CronSpec,
    pub reps: Vec<Rep>,
    pub http: Http,
    pub campaigns_dir: PathBuf,
    pub templates_dir: PathBuf,
    /// `var/` beside the config: the default home of the SQLite database,
    /// the outbox and the generated link secret.
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Database {
    pub url: String,
    pub max_connections: u32,
    /// How long a replica's claim on leads and timers outlives the replica
    /// (PostgreSQL): live replicas renew theirs, a dead one's expire.
    pub lease: TimeDelta,
    /// The PostgreSQL password, read from this file (a systemd credential)
    /// at each start, never written in the URL or the config.
    pub password_file: Option<PathBuf>,
    /// `"transaction"`: a pooler (PgBouncer `pool_mode = transaction`)
    /// stands between nurture and PostgreSQL: no named prepared
    /// statements, each statement in a transaction of its own.
    pub pooler: bool,
    /// CA certificates (PEM) trusted besides the system's store.
    pub ca_file: Option<PathBuf>,
}

impl Database {
    /// The URL to connect with: `url`, with the password from
    /// `password_file` (first line) when one is set.
    pub fn connect_url(&self) -> Result<String, String> {
        let Some(path) = &self.password_file else { return Ok(self.url.clone()) };
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("database.password_file {}: {e}", path.display()))?;
        let password = text.lines().next().unwrap_or("").trim_end_matches('\r');
        let mut u = url::Url::parse(&self.url).map_err(|e| format!("database.url: {e}"))?;
        u.set_password(Some(password)).map_err(|_| "database.url has no user to give the password to".to_string())?;
        Ok(u.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Outbox,
    Smtp,
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub transport: Transport,
    pub outbox_dir: PathBuf,
    pub smtp_url: String,
    pub smtp_password_file: Option<PathBuf>,
    pub pool_size: u32,
    pub rate_per_second: u32,
    pub from: lettre::message::Mailbox,
    pub reply_to: Option<lettre::message::Mailbox>,
    pub postal_address: String,
    /// `bounces@example.com`: each message's envelope sender becomes a
    /// signed `bounces+TOKEN@example.com` naming its delivery (VERP).
    pub return_path: Option<lettre::Address>,
    /// CA certificates (PEM) trusted besides the system's store.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub caps: Caps,
    pub retry: Vec<TimeDelta>,
}

#[derive(Debug, Clone)]
pub struct Http {
    pub bind: Option<SocketAddr>,
    pub public_url: String,
    pub secret_file: Option<PathBuf>,
    /// Earlier link keys, still accepted after a rotation.
    pub previous_secret_files: Vec<PathBuf>,
    pub api_token_file: Option<PathBuf>,
    /// The console's users (`[[user]] name, password_hash`); `None`: no
    /// console (404).
    pub console_users_file: Option<PathBuf>,
    /// Proxies whose `X-Forwarded-For` names the client (loopback by
    /// default: a TLS proxy on the same machine); anyone else's is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Connections served at once; more are closed as they come.
    pub max_connections: u32,
}

impl Config {
    /// The rep with this email from the reps file, or one known only by
    /// email (a lead's owner need not be listed).
    pub fn rep(&self, email: &str) -> Rep {
        self.reps.iter().find(|r| r.email == email).cloned().unwrap_or_else(|| Rep {
            email: email.to_string(),
            name: String::new(),
            timezone: None,
            hours: None,
        })
    }

    /// Load `explicit` (which must exist), else `./nurture.toml` if present,
    /// else the built-in defaults rooted at the current folder.
    pub fn load(explicit: Option<&Path>, diags: &mut Diagnostics) -> Config {
        let path = explicit.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("nurture.toml"));
        if explicit.is_none() && !path.exists() {
            return Config::from_file(&Source::new(path, ""), diags);
        }
        match Source::read(&path) {
            Ok(source) => Config::from_file(&source, diags),
            Err(d) => {
                diags.push(d);
                Config::from_file(&Source::new(path, ""), &mut Diagnostics::default())
            }
        }
    }

    pub fn from_file(source: &Source, diags: &mut Diagnostics) -> Config {
        let raw = parse_toml::<ConfigFile>(source, diags);
        // A file that does not parse is reported once, at its error: the
        // defaults standing in for it must not add warnings about values
        // the file may well set (a misspelt key is not a missing address).
        let parsed = raw.is_some();
        // An empty base keeps paths relative to the working folder as the
        // user typed them ("campaigns/x.toml", not "./campaigns/x.toml").
        let base = source.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let config = resolve(raw.unwrap_or_default(), source, &base, diags);
        if parsed {
            warnings(&config, diags);
        }
        config
    }
}

fn resolve(raw: ConfigFile, source: &Source, base: &Path, diags: &mut Diagnostics) -> Config {
    let rel = |p: &str| base.join(p);
    let opt_path = |p: Option<String>| p.filter(|s| !s.trim().is_empty()).map(|s| base.join(s));
    let mut f = Fields::new(source, diags);

    let log_format = raw.log_format.and_then(|v| {
        f.parse(&v, |s| match s.as_str() {
            "text" | "human" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log_format {other:?}; use \"text\" or \"json\"")),
        })
    });
    let url = std::env::var("NURTURE_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or(raw.database.url.map(|u| u.into_inner()))
        .unwrap_or_else(|| "sqlite://var/nurture.db".into());
    let database = Database {
        url: resolve_sqlite_url(&url, base),
        max_connections: positive(&mut f, raw.database.max_connections, 8, "database.max_connections"),
        lease: duration_or(&mut f, raw.database.lease, "1m").max(TimeDelta::seconds(1)),
        password_file: None,
        pooler: false,
        ca_file: None,
    };
    if let Some(p) = &raw.database.password_file
        && database.url.starts_with("sqlite:")
    {
        f.warn(p, "database.password_file is for PostgreSQL; SQLite has no password");
    }
    let pooler = match &raw.database.pooler {
        None => false,
        Some(p) => match p.get_ref().trim() {
            "" | "none" => false,
            "transaction" => true,
            other => {
                f.error(p, format!("database.pooler {other:?}: use \"transaction\" (PgBouncer's pool_mode = transaction) or \"none\""));
                false
            }
        },
    };
    let database = Database {
        password_file: opt_path(raw.database.password_file.map(|p| p.into_inner())),
        pooler,
        ca_file: opt_path(raw.database.ca_file),
        ..database
    };

    let transport = match raw.mail.transport {
        None => Transport::Outbox,
        Some(t) => match t.get_ref().as_str() {
            "outbox" => Transport::Outbox,
            "smtp" => Transport::Smtp,
            other => {
                f.error(&t, format!("unknown mail.transport {other:?}; use \"outbox\" or \"smtp\""));
                Transport::Outbox
            }
        },
    };
    let smtp_url = match raw.mail.smtp_url {
        Some(u) => f.parse(&u, |s| check_smtp_url(s).map(|_| s.clone())).unwrap_or_default(),
        None => "smtp://127.0.0.1:25".into(),
    };
    let default_from = crate::email::parse_mailbox("Sales <sales@example.com>").expect("valid default");
    let from = raw.mail.from.and_then(|s| f.parse(&s, |v| crate::email::parse_mailbox(v))).unwrap_or(default_from);
    let reply_to = raw
        .mail
        .reply_to
        .filter(|s| !s.get_ref().trim().is_empty())
        .and_then(|s| f.parse(&s, |v| crate::email::parse_mailbox(v)));
    let mail = Mail {
        transport,
        outbox_dir: rel(raw.mail.outbox_dir.as_deref().unwrap_or("var/outbox")),
        smtp_url,
        smtp_password_file: opt_path(raw.mail.smtp_password_file),
        pool_size: positive(&mut f, raw.mail.pool_size, 4, "mail.pool_size"),
        rate_per_second: raw.mail.rate_per_second.unwrap_or(0),
        from,
        reply_to,
        postal_address: raw.mail.postal_address.unwrap_or_default(),
        return_path: raw.mail.return_path.filter(|s| !s.get_ref().trim().is_empty()).and_then(|s| {
            f.parse(&s, |v| {
                let a: lettre::Address = v.trim().parse().map_err(|e| {
                    format!("mail.return_path {v:?} is not an address ({e}); e.g. \"bounces@example.com\"")
                })?;
                if a.user().contains('+') {
                    return Err(format!("mail.return_path {v:?} must not contain '+': nurture adds +TOKEN itself"));
                }
                Ok(a)
            })
        }),
        ca_file: opt_path(raw.mail.ca_file),
    };

    let tick = duration_or(&mut f, raw.schedule.tick, "15s");
    let tick = if tick < TimeDelta::seconds(1) { TimeDelta::seconds(1) } else { tick };
    let timezone = raw.schedule.timezone.and_then(|z| f.zone(&z)).unwrap_or(Tz::UTC);

    let max = positive(&mut f, raw.policy.max_emails, 3, "policy.max_emails");
    let caps = Caps {
        max,
        per: duration_or(&mut f, raw.policy.per, "7d"),
        min_gap: duration_or(&mut f, raw.policy.min_gap, "1d"),
    };
    let retry = match raw.policy.retry {
        Some(list) => list.iter().filter_map(|d| f.duration(d)).collect(),
        None => ["1m", "5m", "30m", "2h", "6h"].iter().filter_map(|d| crate::duration::parse(d).ok()).collect(),
    };

    let statuses = statuses(&mut f, raw.leads.statuses);
    let digest = raw
        .reminders
        .digest
        .and_then(|c| f.cron(&c))
        .unwrap_or_else(|| CronSpec::parse("0 8 * * Mon-Fri").expect("valid default"));
    let http = Http {
        bind: match raw.http.bind {
            None => Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            Some(b) if b.get_ref().trim().is_empty() => None,
            Some(b) => f.parse(&b, |s| {
                s.parse::<SocketAddr>()
                    .map_err(|_| format!("http.bind {s:?} is not IP:PORT, e.g. \"127.0.0.1:8080\"; \"\" disables HTTP"))
            }),
        },
        public_url: match raw.http.public_url {
            None => "http://127.0.0.1:8080".into(),
            Some(u) => f.parse(&u, |s| check_public_url(s)).unwrap_or_default(),
        },
        secret_file: opt_path(raw.http.secret_file),
        previous_secret_files: raw
            .http
            .previous_secret_files
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| opt_path(Some(p)))
            .collect(),
        api_token_file: opt_path(raw.http.api_token_file),
        console_users_file: opt_path(raw.http.console_users_file),
        trusted_proxies: match raw.http.trusted_proxies {
            None => vec![std::net::Ipv4Addr::LOCALHOST.into(), std::net::Ipv6Addr::LOCALHOST.into()],
            Some(list) => list
                .iter()
                .filter_map(|p| {
                    f.parse(p, |s| {
                        s.trim().parse::<std::net::IpAddr>().map_err(|_| {
                            format!("http.trusted_proxies: {s:?} is not an IP address, e.g. \"127.0.0.1\" (list each proxy's address)")
                        })
                    })
                })
                .collect(),
        },
        max_connections: match raw.http.max_connections {
            None => 512,
            Some(n) => f
                .parse(&n, |n| match *n {
                    16..=100_000 => Ok(*n),
                    _ => Err(format!("http.max_connections {n} must be between 16 and 100000")),
                })
                .unwrap_or(512),
        },
    };
    let guardrails = guardrails::resolve(raw.guardrails, &mut f);
    let inbound = inbound::resolve(raw.inbound, &mut f, base);
    let report = report::resolve(raw.report, &mut f, &statuses);
    let tracking = readiness::tracking(raw.tracking, &mut f);
    let scoring = readiness::scoring(raw.scoring, &mut f);
    let handoff = readiness::handoff(raw.handoff, &mut f, &statuses);
    let answers = readiness::answers(raw.answers, &mut f, &statuses);
    let webhooks = webhooks::resolve(raw.webhook, &mut f, base);
    let housekeeping = housekeeping::resolve(raw.housekeeping, &mut f, base, &database.url);
    let reps = match opt_path(raw.reminders.reps_file) {
        Some(p) => reps::load(&p, diags),
        None => Vec::new(),
    };
    Config {
        file: source.path.clone(),
        log_format,
        database,
        mail,
        tick,
        timezone,
        policy: Policy { caps, retry },
        guardrails,
        report,
        housekeeping,
        inbound,
        tracking,
        scoring,
        handoff,
        answers,
        webhooks,
        statuses,
        digest,
        reps,
        http,
        campaigns_dir: rel(raw.paths.campaigns.as_deref().unwrap_or("campaigns")),
        templates_dir: rel(raw.paths.templates.as_deref().unwrap_or("templates")),
        state_dir: rel("var"),
    }
}

fn warnings(config: &Config, diags: &mut Diagnostics) {
    if config.mail.postal_address.trim().is_empty() {
        diags.push(Diagnostic::warning(
            &config.file,
            "mail.postal_address is empty; CAN-SPAM requires a postal address in marketing email footers",
        ));
    }
    if config.mail.transport == Transport::Smtp && !config.http.public_url.starts_with("https://") {
        diags.push(Diagnostic::warning(
            &config.file,
            "http.public_url is not https://; mailbox providers expect HTTPS one-click unsubscribe links",
        ));
    }
    if config.inbound.imap_url.is_some() && config.mail.return_path.is_none() {
        diags.push(Diagnostic::warning(
            &config.file,
            "inbound.imap_url is set but mail.return_path is not: anyone can send a bounce report naming a lead's \
             address and have it suppressed; set mail.return_path = \"bounces@your-domain\" (signed return paths) \
             and deliver that address to the mailbox",
        ));
    }
}

fn positive(f: &mut Fields, v: Option<toml::Spanned<u32>>, default: u32, key: &str) -> u32 {
    match v {
        Some(n) if *n.get_ref() == 0 => {
            f.error(&n, format!("{key} must be at least 1"));
            default
        }
        Some(n) => n.into_inner(),
        None => default,
    }
}

fn duration_or(f: &mut Fields, v: Option<toml::Spanned<String>>, default: &str) -> TimeDelta {
    v.and_then(|d| f.duration(&d)).unwrap_or_else(|| crate::duration::parse(default).expect("valid default"))
}

fn statuses(f: &mut Fields, v: Option<toml::Spanned<Vec<toml::Spanned<String>>>>) -> Vec<String> {
    let default = || DEFAULT_STATUSES.iter().map(|s| s.to_string()).collect();
    let Some(list) = v else { return default() };
    if list.get_ref().is_empty() {
        f.error(&list, "leads.statuses is empty; list at least one status");
        return default();
    }
    let mut out: Vec<String> = Vec::new();
    for s in list.get_ref() {
        let name = s.get_ref().trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            f.error(s, format!("status {name:?} must be a non-empty word without spaces"));
        } else if out.iter().any(|o| o == name) {
            f.error(s, format!("status {name:?} is listed twice"));
        } else {
            out.push(name.to_string());
        }
    }
    out
}

/// `sqlite://relative/path` is relative to the config file's folder.
fn resolve_sqlite_url(url: &str, base: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') && !rest.is_empty() => {
            format!("sqlite://{}", base.join(rest).display())
        }
        _ => url.to_string(),
    }
}

fn check_smtp_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("smtp://")
        .or_else(|| s.strip_prefix("smtps://"))
        .ok_or_else(|| format!("mail.smtp_url {s:?} must start with smtp:// or smtps://"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("mail.smtp_url {s:?} has no host"));
    }
    Ok(())
}

fn check_public_url(s: &str) -> Result<String, String> {
    let ok = ["http://", "https://"].iter().any(|p| s.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    if !ok {
        return Err(format!("http.public_url {s:?} must be an http:// or https:// URL"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests;
