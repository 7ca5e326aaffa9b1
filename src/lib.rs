//! nurture: drip campaigns that keep sales leads from being neglected.
//!
//! Module map, in the order data flows from a campaign file to a sent email:
//!
//! - [`config`]: `nurture.toml`, defaults for every key, the reps file.
//! - [`campaign`]: `campaigns/*.toml` parsed and validated into [`campaign::Campaign`].
//! - [`template`]: Handlebars templates compiled once; rendering a step for a lead.
//! - [`schedule`]: pure time math (cron, send windows, email caps); `now` is always an argument.
//! - [`lead`]: the lead record and the sample lead used by `check` and `preview`.
//! - [`cli`]: the `nurture` command line; `check` and `preview` live there.
//!
//! Supporting pieces: [`diag`] (positioned problems), [`source`] (files read
//! with limits), [`fields`] (value parsers that report at the value),
//! [`duration`] (`1d 12h`), [`email`] (address syntax).

pub mod campaign;
pub mod cli;
pub mod config;
pub mod definitions;
pub mod diag;
pub mod duration;
pub mod email;
pub mod engine;
pub mod fields;
pub mod import;
pub mod lead;
pub mod links;
pub mod mail;
pub mod schedule;
pub mod secret;
pub mod source;
pub mod store;
pub mod template;
