//! `nurture.toml` exactly as written: every key optional, unknown keys
//! rejected by serde with their position. Values needing more than a type
//! check stay `Spanned` so their errors point at the value.

use serde::Deserialize;
use toml::Spanned;

type S = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// "text" or "json"; `--log-format` wins.
    pub log_format: Option<S>,
    pub database: DatabaseFile,
    pub mail: MailFile,
    pub schedule: ScheduleFile,
    pub policy: PolicyFile,
    pub leads: LeadsFile,
    pub reminders: RemindersFile,
    pub http: HttpFile,
    pub paths: PathsFile,
    pub guardrails: GuardrailsFile,
    pub inbound: InboundFile,
    pub report: ReportFile,
    pub housekeeping: HousekeepingFile,
    pub tracking: TrackingFile,
    pub scoring: ScoringFile,
    pub handoff: HandoffFile,
    pub answers: std::collections::BTreeMap<String, Spanned<AnswerFile>>,
    pub webhook: Vec<Spanned<WebhookFile>>,
}

/// One `[[webhook]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    pub url: S,
    pub name: Option<S>,
    pub events: Option<Vec<S>>,
    pub secret_file: Option<String>,
    pub give_up_after: Option<S>,
    pub timeout: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseFile {
    pub url: Option<S>,
    pub max_connections: Option<Spanned<u32>>,
    pub lease: Option<S>,
    /// The PostgreSQL password, from a file (a systemd credential).
    pub password_file: Option<S>,
    pub pooler: Option<S>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailFile {
    pub transport: Option<S>,
    pub outbox_dir: Option<String>,
    pub smtp_url: Option<S>,
    pub smtp_password_file: Option<String>,
    pub pool_size: Option<Spanned<u32>>,
    pub rate_per_second: Option<u32>,
    pub from: Option<S>,
    pub reply_to: Option<S>,
    pub postal_address: Option<String>,
    pub return_path: Option<S>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleFile {
    pub tick: Option<S>,
    pub timezone: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyFile {
    pub max_emails: Option<Spanned<u32>>,
    pub per: Option<S>,
    pub min_gap: Option<S>,
    pub retry: Option<Vec<S>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadsFile {
    pub statuses: Option<Spanned<Vec<S>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemindersFile {
    pub digest: Option<S>,
    pub reps_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpFile {
    pub bind: Option<S>,
    pub public_url: Option<S>,
    pub secret_file: Option<String>,
    pub previous_secret_files: Option<Vec<String>>,
    pub api_token_file: Option<String>,
    pub console_users_file: Option<String>,
    pub trusted_proxies: Option<Vec<S>>,
    pub max_connections: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsFile {
    pub campaigns: Option<String>,
    pub templates: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardrailsFile {
    pub max_bounce_rate: Option<Spanned<f64>>,
    pub max_complaint_rate: Option<Spanned<f64>>,
    pub min_sample: Option<Spanned<u32>>,
    pub window: Option<S>,
    pub notify: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboundFile {
    pub imap_url: Option<S>,
    pub password_file: Option<String>,
    pub processed_folder: Option<String>,
    pub quarantine_folder: Option<String>,
    pub poll: Option<S>,
    pub ooo_pause: Option<S>,
    pub ooo_max: Option<S>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportFile {
    pub goal: Option<Spanned<Vec<String>>>,
    pub window: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HousekeepingFile {
    pub backup: Option<S>,
    pub keep_backups: Option<Spanned<u32>>,
    pub backup_dir: Option<S>,
    pub retention: Option<S>,
    pub webhook_events: Option<S>,
    pub expire: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingFile {
    pub links: Option<bool>,
    pub scanner_window: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringFile {
    pub click: Option<Spanned<f64>>,
    pub reply: Option<Spanned<f64>>,
    pub half_life: Option<S>,
    pub links: std::collections::BTreeMap<String, Spanned<f64>>,
    pub events: std::collections::BTreeMap<String, Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffFile {
    pub threshold: Option<Spanned<f64>>,
    pub status: Option<S>,
    pub task: Option<S>,
    pub due: Option<S>,
    pub escalate_after: Option<S>,
    pub escalate_to: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerFile {
    pub label: Option<String>,
    pub handoff: Option<bool>,
    pub pause: Option<S>,
    pub status: Option<S>,
    pub reason: Option<String>,
    pub attribute: std::collections::BTreeMap<String, String>,
    pub points: Option<Spanned<f64>>,
}
