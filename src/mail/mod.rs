//! Outgoing mail: the message the engine hands over, the [`Mailer`] that
//! carries it, and how a failure is classified before anything acts on it.

pub mod health;
pub mod message;
pub mod outbox;
pub mod smtp;
pub mod throttle;

use async_trait::async_trait;

/// One email ready to go: marketing (to a lead) or a rep reminder/digest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// One-click unsubscribe link; set for marketing email only.
    pub unsubscribe_url: Option<String>,
    /// The Message-ID, angle brackets included; a random one when `None`.
    /// A lead's email carries its delivery's signed id (`links.rs`).
    pub message_id: Option<String>,
    /// The envelope sender, when not the From address: the delivery's
    /// signed return path (`mail.return_path`).
    pub envelope_from: Option<String>,
    /// RFC 2919 `List-Id` value (`Campaign <campaign.domain>`); marketing
    /// email only.
    pub list_id: Option<String>,
}

/// What a failed send means, decided from the SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Temporary (4xx, connection): try again per `policy.retry`.
    #[error("temporary failure: {0}")]
    Retry(String),
    /// The recipient is permanently unreachable (5.1.x): suppress it.
    #[error("bounced: {0}")]
    Bounce(String),
    /// Our side is refused (policy, auth): not the lead's fault. The step
    /// logs an error for ops and is retried like a temporary failure
    /// (README, *Behaviour decisions*).
    #[error("refused: {0}")]
    Halt(String),
    /// Our sending is refused as such (a 5.7.x policy or blocklist reply,
    /// or authentication): every send would meet it, so all sending pauses
    /// (guardrails) until ops lift it; the step waits, not the lead's fault.
    #[error("sending refused: {0}")]
    Refused(String),
    /// The message was handed over but the server's verdict never came
    /// (connection lost, no answer): it may have been delivered, so it is
    /// recorded `uncertain` and never sent again.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// nurture could not build the message (an address or header the
    /// mail library refuses): our failure, never the lead's. The step
    /// fails, nothing is suppressed, no guardrail counts it.
    #[error("message not built: {0}")]
    Unbuildable(String),
    /// The server could not be reached (connection refused or lost before
    /// the message was handed over): temporary, and the transport is then
    /// known down (see `health.rs`).
    #[error("server unreachable: {0}")]
    Unreachable(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Wait for this transport's next turn under a provider's rate limit
    /// (see `throttle.rs`); the engine calls it before it records an
    /// attempt, so a stop while waiting leaves nothing half-done.
    async fn pace(&self) {}

    /// Whether a send may be tried now: false while the server is known
    /// down (steps then wait without an attempt). May probe the server.
    async fn available(&self) -> bool {
        true
    }

    /// The last known state of the server, without probing.
    fn is_up(&self) -> bool {
        true
    }

    async fn send(&self, message: &Outgoing) -> Result<(), SendError>;
}

/// `simulate`: messages are rendered (so template errors surface) and then
/// dropped; nothing leaves the machine.
pub struct Discard;

#[async_trait]
impl Mailer for Discard {
    async fn send(&self, _: &Outgoing) -> Result<(), SendError> {
        Ok(())
    }
}
