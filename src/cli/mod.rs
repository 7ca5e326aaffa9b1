//! The `nurture` command line. Exit codes (SPEC §4): 0 success, 1 invalid
//! input, 2 bad command line (clap's own code), 3 environment failure.

mod check;
mod preview;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "nurture", version, about = "Drip campaigns that keep sales leads from being neglected")]
pub struct Cli {
    /// Configuration file (default: ./nurture.toml, else built-in defaults)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate config, campaigns and templates; print every problem as path:line:col: message
    Check,
    /// Render a campaign's steps (subject, text and HTML) for the sample lead
    Preview {
        /// Campaign id (the file stem unless `id` is set)
        campaign: String,
        /// Only this step
        #[arg(long, value_name = "ID")]
        step: Option<String>,
        /// Render for this lead instead of the sample lead
        #[arg(long, value_name = "EMAIL")]
        lead: Option<String>,
    },
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
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Invalid(_) => 1,
            Failure::Environment(_) => 3,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let now = chrono::Utc::now();
    let result = match &cli.command {
        Command::Check => check::run(cli.config.as_deref(), now),
        Command::Preview { campaign, step, lead } => {
            preview::run(cli.config.as_deref(), campaign, step.as_deref(), lead.as_deref(), now)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let text = f.to_string();
            if !text.is_empty() {
                eprintln!("{}", text.trim_end());
            }
            ExitCode::from(f.code())
        }
    }
}
