//! The engine against real databases: every scenario runs on a SQLite file
//! and on a fresh PostgreSQL database, under a virtual clock.

mod abtests;
mod clicks;
mod delivery;
mod edits;
mod enrolment;
mod explain;
mod forecast;
mod guardrails;
mod handoff;
mod helpers;
mod history;
mod inbound;
mod keep;
mod outbox;
mod replicas;
mod report;
mod spam;
mod tasks;
mod webhooks;
