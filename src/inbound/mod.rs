//! Inbound mail: what a message that reached us is (a bounce, a complaint,
//! an automatic reply, a person's reply, or something else), decided from
//! the message alone. Matching it to a lead and delivery, and what follows,
//! is the engine's (`engine/inbound.rs`); reading a mailbox is `imap.rs`.
//!
//! The order of the questions matters and is the README's (*Inbound
//! mail*): a feedback report, then a delivery report, then an automatic
//! reply, and only a message that is none of these and not from a machine
//! can be a person's reply.

pub mod autoreply;
pub mod bounce;
pub mod classify;
pub mod dates;
pub mod reply;
pub mod ses;
pub mod unsubscribe;
pub mod view;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

pub use classify::{classify, hash_key};

/// The kinds `nurture inbound` prints (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Bounce,
    Complaint,
    AutoReply,
    Reply,
    Unmatched,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Bounce, Kind::Complaint, Kind::AutoReply, Kind::Reply, Kind::Unmatched];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bounce => "bounce",
            Kind::Complaint => "complaint",
            Kind::AutoReply => "auto_reply",
            Kind::Reply => "reply",
            Kind::Unmatched => "unmatched",
        }
    }
}

/// What a bounce does to the lead (README, *Inbound mail*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The address does not exist or is disabled: suppress it.
    Hard,
    /// Full mailbox, a delay, a passing fault: history; three in 30 days suppress.
    Soft,
    /// Our message or server was refused (spam, policy, blocklist): never
    /// the lead's fault; counts against the campaign's guardrail.
    Refused,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Hard => "hard",
            Severity::Soft => "soft",
            Severity::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bounce {
    pub severity: Severity,
    /// A reason from Sisimai's taxonomy (`userunknown`, `mailboxfull`, ...).
    pub reason: &'static str,
    /// The RFC 3463 status, when the report gave or implied one.
    pub status: Option<String>,
    /// The failed recipient the report names.
    pub recipient: Option<String>,
    /// The server's words, shortened, for history and logs.
    pub diagnostic: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Bounce(Bounce),
    /// An RFC 5965 report (or a provider's look-alike): someone marked our
    /// message as spam.
    Complaint {
        feedback_type: String,
        recipient: Option<String>,
    },
    /// An automatic reply; `until` is the return date it states, if any.
    AutoReply {
        until: Option<NaiveDate>,
    },
    /// A person wrote: the first lines of what they wrote (quotes removed).
    Reply {
        first_lines: String,
    },
    /// A person asked to be unsubscribed (a reply saying so, or their mail
    /// program's request): a reply that unsubscribes.
    Unsubscribe {
        why: &'static str,
        first_lines: String,
    },
    /// A report that a message was delivered or relayed: not a bounce.
    Delivered,
    /// Other machine mail (read receipts, newsletters, notifications).
    Machine(&'static str),
}

impl Verdict {
    pub fn kind(&self) -> Kind {
        match self {
            Verdict::Bounce(_) => Kind::Bounce,
            Verdict::Complaint { .. } => Kind::Complaint,
            Verdict::AutoReply { .. } => Kind::AutoReply,
            Verdict::Reply { .. } | Verdict::Unsubscribe { .. } => Kind::Reply,
            Verdict::Delivered | Verdict::Machine(_) => Kind::Unmatched,
        }
    }
}

/// A classified message and what the matcher needs to find its lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub verdict: Verdict,
    /// Identifies the message across readings: its Message-ID, else a hash
    /// of its bytes (a message is handled once per key).
    pub key: String,
    pub date: Option<DateTime<Utc>>,
    pub subject: String,
    /// The sender's address, lower-cased.
    pub from: Option<String>,
    /// Addresses the message was delivered to (`To`, `Delivered-To`,
    /// `X-Original-To`, ...): a signed return path shows here.
    pub recipients: Vec<String>,
    /// `In-Reply-To` and `References`, then the Message-ID of the original
    /// message a report carries, without angle brackets.
    pub references: Vec<String>,
    /// The text to search for our signed tokens (the original message a
    /// report or a quoting reply carries), bounded.
    pub scan: String,
}
