//! SMTP: messages built with lettre, carried over our own connection pool
//! (`pool.rs` says why), each send under its own deadline.

mod data;
mod pool;
mod server;

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;

use super::message::{Envelope, build};
use super::{Mailer, Outgoing, SendError};
use crate::config::Mail;
use pool::{Failure, Pool};
pub use server::{Server, Tls};

const SEND_DEADLINE: Duration = Duration::from_secs(60);

pub struct Smtp {
    pool: Pool,
    from: Mailbox,
    reply_to: Option<Mailbox>,
}

impl Smtp {
    pub fn new(mail: &Mail) -> Result<Smtp, String> {
        let password = match &mail.smtp_password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("mail.smtp_password_file {}: {e}", path.display()))?
                    .trim_end()
                    .to_string(),
            ),
            None => None,
        };
        let mut server = Server::parse(&mail.smtp_url, password)?;
        if let Some(path) = &mail.ca_file {
            crate::tls::certificates(path).map_err(|e| format!("mail.{e}"))?;
            server.ca_pem = Some(std::fs::read(path).map_err(|e| format!("mail.ca_file {}: {e}", path.display()))?);
        }
        Ok(Smtp {
            pool: Pool::new(server, mail.pool_size as usize),
            from: mail.from.clone(),
            reply_to: mail.reply_to.clone(),
        })
    }

    /// Whether the server answers (and accepts our credentials): checked
    /// when `run` starts, and to probe a server that was down.
    pub async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(SEND_DEADLINE, self.pool.check()).await {
            Ok(Ok(())) => Ok(()),
            // Servers commonly offer AUTH only after STARTTLS.
            Ok(Err(Failure::Smtp(e))) if e.to_string().contains("authentication mechanism") => Err(format!(
                "{e}: the server offers no AUTH method we can use; set ?tls=required (or smtps://) \
                 in mail.smtp_url, or leave mail.smtp_password_file empty for a relay without AUTH"
            )),
            Ok(Err(Failure::Smtp(e))) => Err(e.to_string()),
            Ok(Err(Failure::Io(e) | Failure::Unknown(e))) => Err(e),
            Err(_) => Err("the SMTP server did not answer in time".into()),
        }
    }
}

#[async_trait]
impl super::health::Probe for Smtp {
    async fn probe(&self) -> Result<(), String> {
        self.check().await
    }
}

#[async_trait]
impl Mailer for Smtp {
    async fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        let env = Envelope { from: &self.from, reply_to: self.reply_to.as_ref() };
        let message = build(m, &env).map_err(|e| SendError::Unbuildable(e.to_string()))?;
        let bytes = message.formatted();
        let envelope = match &m.envelope_from {
            Some(sender) => {
                let from = sender.parse().map_err(|e| SendError::Halt(format!("return path {sender}: {e}")))?;
                lettre::address::Envelope::new(Some(from), message.envelope().to().to_vec())
                    .map_err(|e| SendError::Halt(format!("envelope: {e}")))?
            }
            None => message.envelope().clone(),
        };
        match self.pool.send(&envelope, &bytes, SEND_DEADLINE).await {
            Ok(()) => Ok(()),
            Err(Failure::Io(e)) => Err(SendError::Unreachable(e)),
            Err(Failure::Unknown(e)) => Err(SendError::Unknown(e)),
            Err(Failure::Smtp(e)) => Err(classify(&e)),
        }
    }
}

/// 550, 551 and 553 are about the recipient: bounce and suppress, unless
/// the enhanced code says our message or server is refused (5.7.x: policy,
/// spam, blocklist), which, like an authentication failure (530, 534, 535,
/// 538), pauses all sending. Other permanent replies are ours to fix:
/// halt. The rest (4xx, connection) are worth another try.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = e.to_string();
    match e.status() {
        Some(code) if e.is_permanent() => match code.to_string().as_str() {
            _ if text.contains("5.7.") => SendError::Refused(text),
            "530" | "534" | "535" | "538" => SendError::Refused(text),
            "550" | "551" | "553" => SendError::Bounce(text),
            _ => SendError::Halt(text),
        },
        _ => SendError::Retry(text),
    }
}
