//! Telling the CRM (README, *Webhooks*): each event is stored in an outbox
//! in the same transaction as the change it reports, then POSTed, signed,
//! to every `[[webhook]]` that wants it, in order per lead, retried until
//! delivered or dead.
//!
//! - [`sign`]: the `Nurture-Signature` header and how a receiver checks it.

pub mod post;
pub mod send;
pub mod sign;
