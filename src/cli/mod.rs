//! The `nurture` command line. Exit codes (README, *Commands*): 0 success, 1 invalid
//! input, 2 bad command line (clap's own code), 3 environment failure.

mod campaigns;
mod check;
mod db;
mod explain;
mod forecast;
mod happenings;
mod inbound;
mod keep;
mod leads;
mod preview;
mod report;
mod run;
mod simulate;
mod status;
mod tasks;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "nurture", version, about = "Drip campaigns that keep sales leads from being neglected")]
pub struct Cli {
    /// Configuration file (default: ./nurture.toml, else built-in defaults)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log format: human-readable, or one JSON object per line (default:
    /// the config's `log_format`, else human-readable)
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[value(alias = "text")]
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: migrate the database, then send what is due until SIGTERM
    Run,
    /// Validate config, campaigns and templates; print every problem as path:line:col: message
    Check {
        /// Also say how many active enrolments the files, as they are now, touch (README, Live edits)
        #[arg(long)]
        database: bool,
    },
    /// Render a campaign's steps (subject, text and HTML) for the sample lead
    Preview {
        /// Campaign id (the file stem unless `id` is set)
        campaign: String,
        /// Only this step
        #[arg(long, value_name = "ID")]
        step: Option<String>,
        /// Render for this lead from the database instead of the sample lead
        #[arg(long, value_name = "EMAIL")]
        lead: Option<String>,
        /// Only this variant of a step with `[[step.variant]]` (default:
        /// every variant for the sample lead, the lead's own with --lead)
        #[arg(long, value_name = "ID")]
        variant: Option<String>,
    },
    /// Run the scheduling engine on a virtual clock and a throwaway database; print every event
    Simulate {
        /// How many days to simulate
        #[arg(long)]
        days: u32,
        /// Leads to start with, as if imported before --start
        #[arg(long, value_name = "CSV")]
        leads: Option<PathBuf>,
        /// Virtual start time (RFC 3339; default: now)
        #[arg(long, value_name = "RFC3339")]
        start: Option<String>,
        /// One JSON object per event
        #[arg(long)]
        json: bool,
        /// Replay the .eml files of DIR, each at its Date, through the inbound classifier
        #[arg(long, value_name = "DIR")]
        inbound: Option<PathBuf>,
        /// Replay clicks, answers and named events, one JSON object per line: {"at", "lead", "type", ...}
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
    },
    /// Manage leads
    Leads {
        #[command(subcommand)]
        command: LeadsCommand,
    },
    /// Never send marketing email to this address again
    Suppress { email: String },
    /// Lift a suppression
    Unsuppress { email: String },
    /// Campaigns: their state, and pausing or resuming their sending
    Campaigns {
        #[command(subcommand)]
        command: CampaignsCommand,
    },
    /// Webhooks: what each delivered, what waits or died; replay; a test request
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Rep tasks
    Tasks {
        #[command(subcommand)]
        command: TasksCommand,
    },
    /// Counts: active enrolments, due now, sent/failed/uncertain in the last 24 h, open tasks, next due time
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Per campaign and step: enrolled, sent, failed, bounced, unsubscribed, complaints, replied, converted...; per rep: tasks
    Report {
        /// Only this campaign
        #[arg(long, value_name = "ID")]
        campaign: Option<String>,
        /// Only what happened since then (a date or RFC 3339 time; default: all time)
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// One JSON object
        #[arg(long)]
        json: bool,
    },
    /// Why a lead is or is not in each campaign, when its next step goes and why then; its timeline
    Explain {
        email: String,
        /// Only this campaign
        #[arg(long, value_name = "ID")]
        campaign: Option<String>,
        /// One JSON object
        #[arg(long)]
        json: bool,
    },
    /// Read a console password on standard input; print its Argon2 hash for the console users file
    HashPassword,
    /// What the live database would produce in the next N days, per day, campaign and step (read-only)
    Forecast {
        #[arg(long)]
        days: u32,
    },
    /// Apply database migrations
    Migrate,
    /// A consistent, checked copy of the SQLite database (at PATH, or dated in [housekeeping] backup_dir)
    Backup {
        /// Where to write it (must not exist)
        path: Option<PathBuf>,
    },
    /// The database as a whole
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Classify and apply one inbound message (an MTA pipe or a file); print one JSON line
    Inbound {
        /// The message (RFC 5322); standard input without it
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Upsert leads by email from a CSV file (all rows or none)
    Import { csv: PathBuf },
    /// Change a lead's status (sets status_changed_at)
    SetStatus {
        email: String,
        status: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Record an event; only `replied` exists
    Event { email: String, event: LeadEvent },
    /// The lead and its history: emails, tasks, inbound mail, status changes and who made them
    Show {
        email: String,
        /// One JSON object
        #[arg(long)]
        json: bool,
    },
    /// Erase the lead's personal data and history; a keyed hash keeps the address suppressed
    Forget { email: String },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy everything into an empty PostgreSQL database (stop the daemon first)
    Copy {
        /// postgres://USER@HOST/DB, empty (or just created)
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LeadEvent {
    Replied,
}

#[derive(Debug, Subcommand)]
pub enum CampaignsCommand {
    /// Each campaign: enabled, disabled or paused (by whom, since when, why)
    List,
    /// Hold back a campaign's sending; its due steps wait and go out once on resume
    Pause { id: String },
    /// Lift a campaign's pause, or with `all` the pause of all sending
    Resume { id: String },
    /// End a step's A/B test by hand: every later lead gets VARIANT
    Winner { id: String, step: String, variant: String },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Each webhook: delivered, pending (and the oldest's age), dead, the last error
    List,
    /// Send dead events again: one by its id (evt_...), or `all`
    Replay { id: String },
    /// POST a signed sample event to URL and print the answer
    Test { url: String },
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Open tasks, optionally of one rep
    List {
        #[arg(long, value_name = "EMAIL")]
        rep: Option<String>,
    },
    /// Mark a task done
    Done { id: i64 },
}

/// Outcome of a command that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Config, campaign, template, CSV or unknown lead: exit 1.
    #[error("{0}")]
    Invalid(String),
    /// Database or SMTP unreachable: exit 3.
    #[error("{0}")]
    Environment(String),
    /// A value clap could not check (e.g. a malformed --start): exit 2.
    #[error("{0}")]
    Usage(String),
    /// `inbound`: the database is unreachable; the MTA should try again
    /// (EX_TEMPFAIL, 75).
    #[error("{0}")]
    TempFail(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Invalid(_) => 1,
            Failure::Environment(_) => 3,
            Failure::Usage(_) => 2,
            Failure::TempFail(_) => 75,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = log_format(&cli);
    logging(format);
    // The daemon serves HTTP beside its tick loop; the other commands are
    // one sequence of queries, fastest on one thread (see README).
    let mut builder = match cli.command {
        Command::Run => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(dispatch(cli, format))
}

async fn dispatch(cli: Cli, format: LogFormat) -> ExitCode {
    let now = chrono::Utc::now();
    let config = cli.config.as_deref();
    let result = match &cli.command {
        Command::Run => run::run(config).await,
        Command::Check { database } => match check::run(config, now, format == LogFormat::Json) {
            Ok(()) if *database => check::enrolments(config, now).await,
            other => other,
        },
        Command::Preview { campaign, step, lead, variant } => {
            let only = preview::Only { step: step.as_deref(), lead: lead.as_deref(), variant: variant.as_deref() };
            preview::run(config, campaign, only, now).await
        }
        Command::Simulate { days, leads, start, json, inbound, events } => {
            let o = simulate::Options {
                days: *days,
                leads: leads.as_deref(),
                start: start.as_deref(),
                json: *json,
                inbound: inbound.as_deref(),
                events: events.as_deref(),
            };
            simulate::run(config, o, now).await
        }
        Command::Leads { command } => match command {
            LeadsCommand::Import { csv } => leads::import(config, csv, now).await,
            LeadsCommand::SetStatus { email, status, reason } => {
                leads::set_status(config, email, status, reason.as_deref(), now).await
            }
            LeadsCommand::Event { email, event: LeadEvent::Replied } => leads::replied(config, email, now).await,
            LeadsCommand::Show { email, json } => leads::show(config, email, *json, now).await,
            LeadsCommand::Forget { email } => keep::forget(config, email, now).await,
        },
        Command::Suppress { email } => leads::suppress(config, email, true, now).await,
        Command::Unsuppress { email } => leads::suppress(config, email, false, now).await,
        Command::Campaigns { command } => match command {
            CampaignsCommand::List => campaigns::list(config, now).await,
            CampaignsCommand::Pause { id } => campaigns::pause(config, id, now).await,
            CampaignsCommand::Resume { id } => campaigns::resume(config, id, now).await,
            CampaignsCommand::Winner { id, step, variant } => campaigns::winner(config, id, step, variant, now).await,
        },
        Command::Webhooks { command } => match command {
            WebhooksCommand::List => webhooks::list(config, now).await,
            WebhooksCommand::Replay { id } => webhooks::replay(config, id, now).await,
            WebhooksCommand::Test { url } => webhooks::test(config, url, now).await,
        },
        Command::Tasks { command } => match command {
            TasksCommand::List { rep } => tasks::list(config, rep.as_deref(), now).await,
            TasksCommand::Done { id } => tasks::done(config, *id, now).await,
        },
        Command::Status { json } => status::run(config, *json, now).await,
        Command::HashPassword => hash_password(),
        Command::Explain { email, campaign, json } => {
            explain::run(config, email, campaign.as_deref(), *json, now).await
        }
        Command::Report { campaign, since, json } => {
            report::run(config, campaign.as_deref(), since.as_deref(), *json, now).await
        }
        Command::Forecast { days } => forecast::run(config, *days, now).await,
        Command::Migrate => db::open(config, now).await.map(|_| println!("database is up to date")),
        Command::Inbound { file } => inbound::run(config, file.as_deref(), now).await,
        Command::Backup { path } => keep::backup(config, path.as_deref(), now).await,
        Command::Db { command: DbCommand::Copy { to } } => keep::copy(config, to, now).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let text = f.to_string();
            match format {
                _ if text.is_empty() => {}
                LogFormat::Json => tracing::error!(error = text.trim_end(), "Command failed."),
                LogFormat::Human => eprintln!("{}", text.trim_end()),
            }
            ExitCode::from(f.code())
        }
    }
}

/// `--log-format`, else the config's `log_format`. The config is read
/// again (and its problems reported) by the command itself.
fn log_format(cli: &Cli) -> LogFormat {
    use crate::config::{Config, LogFormat as Configured};
    if let Some(f) = cli.log_format {
        return f;
    }
    let config = Config::load(cli.config.as_deref(), &mut crate::diag::Diagnostics::default());
    match config.log_format {
        Some(Configured::Json) => LogFormat::Json,
        Some(Configured::Text) | None => LogFormat::Human,
    }
}

/// Logs go to stderr: human-readable, or JSON with `--log-format json`.
/// `RUST_LOG` filters (default `info`, without PostgreSQL's notices such
/// as "relation already exists, skipping" from every migration check).
fn logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn,tokio_cron_scheduler=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// `hash-password`: the first line of standard input, hashed.
fn hash_password() -> Result<(), Failure> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| Failure::Invalid(format!("standard input: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 {
        return Err(Failure::Invalid(
            "hash-password: give a password of at least 8 characters on standard input".into(),
        ));
    }
    let hash = crate::http::console::users::hash(password).map_err(Failure::Invalid)?;
    println!("{hash}");
    Ok(())
}
