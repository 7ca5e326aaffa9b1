//! nurture: drip campaigns that keep sales leads from being neglected.
//!
//! Module map, in the order data flows from a campaign file to a sent email:
//!
//! - [`config`]: `nurture.toml`, defaults for every key, the reps file.
//! - [`campaign`]: `campaigns/*.toml` parsed and validated into [`campaign::Campaign`].
//! - [`template`]: Handlebars templates compiled once; rendering a step for a lead.
//! - [`definitions`]: config + campaigns + templates loaded and checked as one unit.
//! - [`schedule`]: pure time math (cron, send windows, email caps); `now` is always an argument.
//! - [`store`]: leads, enrolments, deliveries, tasks, timers, one file per concept;
//!   SQLite and PostgreSQL behind one trait, one SQL text.
//! - [`engine`]: one `tick(now)` runs due sweeps, due steps and due digests; `simulate`,
//!   `forecast` and tests drive it with a virtual clock. Every change to a lead (CLI,
//!   API, link pages) is made through it, so its consequences always follow.
//! - [`mail`]: the outgoing message, the `Mailer` trait and send-failure classes.
//! - [`daemon`]: `nurture run`: ticks on the wall clock, signals, reload, the watchdog,
//!   and the supervisor of its long-lived tasks.
//! - [`housekeeping`]: the daemon's UTC jobs (SQLite backups, retention), one replica per fire.
//! - [`http`]: health, metrics, the lead API, unsubscribe and task-done links, served
//!   to strangers with timeouts, a connection cap and per-client limits.
//! - [`cli`]: the `nurture` command line.
//!
//! A/B tests: [`abtest`] (variant assignment, chance to be best, when a test is won).
//!
//! Supporting pieces: [`telemetry`] (metrics, used by engine, daemon and HTTP),
//! [`replica`] (this process among replicas), [`lead`] (the lead record), [`import`] (lead CSV),
//! [`links`] and [`secret`] (signed unsubscribe and task links), [`diag`]
//! (positioned problems), [`source`] (files read with limits), [`fields`]
//! (value parsers that report at the value), [`duration`] (`1d 12h`),
//! [`email`] (address syntax), [`tls`] (whom TLS trusts).

pub mod abtest;
pub mod campaign;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod definitions;
pub mod diag;
pub mod duration;
pub mod email;
pub mod engine;
pub mod fields;
pub mod forecast;
pub mod hex;
pub mod housekeeping;
pub mod http;
pub mod import;
pub mod inbound;
pub mod lead;
pub mod links;
pub mod mail;
pub mod mailbox;
pub mod replica;
pub mod report;
pub mod schedule;
pub mod score;
pub mod secret;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod template;
pub mod tls;
pub mod tracking;
pub mod webhooks;
