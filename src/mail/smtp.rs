//! SMTP through lettre's pooled async transport (rustls). Each send has its
//! own deadline: lettre's timeout covers connecting only.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::message::{Envelope, build};
use super::{Mailer, Outgoing, SendError};
use crate::config::Mail;

const SEND_DEADLINE: Duration = Duration::from_secs(60);

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
}

impl Smtp {
    pub fn new(mail: &Mail) -> Result<Smtp, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&mail.smtp_url)
            .map_err(|e| format!("mail.smtp_url {:?}: {e}", mail.smtp_url))?
            .pool_config(PoolConfig::new().max_size(mail.pool_size))
            .timeout(Some(Duration::from_secs(30)));
        if let Some(path) = &mail.smtp_password_file {
            let password = std::fs::read_to_string(path)
                .map_err(|e| format!("mail.smtp_password_file {}: {e}", path.display()))?;
            let user = mail.smtp_url.split("://").nth(1).and_then(|r| r.split_once('@')).map(|(u, _)| u).unwrap_or("");
            builder = builder.credentials(Credentials::new(user.to_string(), password.trim_end().to_string()));
        }
        Ok(Smtp { transport: builder.build(), from: mail.from.clone(), reply_to: mail.reply_to.clone() })
    }

    /// Whether the server answers; `run` refuses to start otherwise.
    pub async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(SEND_DEADLINE, self.transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err("the SMTP server did not accept a connection".into()),
            // Servers commonly offer AUTH only after STARTTLS.
            Ok(Err(e)) if e.to_string().contains("authentication mechanism") => Err(format!(
                "{e}: the server offers no AUTH method we can use; set ?tls=required (or smtps://) \
                 in mail.smtp_url, or leave mail.smtp_password_file empty for a relay without AUTH"
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the SMTP server did not answer in time".into()),
        }
    }
}

#[async_trait]
impl Mailer for Smtp {
    async fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        let env = Envelope { from: &self.from, reply_to: self.reply_to.as_ref() };
        let message = build(m, &env).map_err(|e| SendError::Bounce(e.to_string()))?;
        match tokio::time::timeout(SEND_DEADLINE, self.transport.send(message)).await {
            Err(_) => Err(SendError::Retry("no answer within 60 s".into())),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
        }
    }
}

/// 550, 551 and 553 are about the recipient: bounce and suppress. Other
/// permanent replies (auth, policy) are ours to fix: halt. The rest
/// (4xx, connection) are worth another try.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = e.to_string();
    match e.status() {
        Some(code) if e.is_permanent() => match code.to_string().as_str() {
            "550" | "551" | "553" => SendError::Bounce(text),
            _ => SendError::Halt(text),
        },
        _ => SendError::Retry(text),
    }
}
