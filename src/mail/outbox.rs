//! The embedded default transport: each message written as an `.eml` file
//! in `mail.outbox_dir`, complete with headers, for a person (or a test) to
//! open. Written to a temporary name and renamed, so a reader never sees
//! half a message.

use std::path::PathBuf;

use async_trait::async_trait;

use super::message::{Envelope, build};
use super::{Mailer, Outgoing, SendError};
use lettre::message::Mailbox;

pub struct Outbox {
    pub dir: PathBuf,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

impl Outbox {
    /// The outbox `[mail]` configures.
    pub fn new(mail: &crate::config::Mail) -> Outbox {
        Outbox { dir: mail.outbox_dir.clone(), from: mail.from.clone(), reply_to: mail.reply_to.clone() }
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        let env = Envelope { from: &self.from, reply_to: self.reply_to.as_ref() };
        let message = build(m, &env).map_err(|e| SendError::Unbuildable(e.to_string()))?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let mut suffix = [0u8; 4];
        let _ = getrandom::fill(&mut suffix);
        let name = format!("{stamp}-{}.eml", crate::hex::encode(&suffix));
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let io = |e: std::io::Error| SendError::Retry(format!("outbox {}: {e}", self.dir.display()));
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        // A failed write (disk full) leaves no partial file behind.
        // The envelope sender shows as `Return-Path`, as a receiving server
        // would write it.
        let mut bytes = match &m.envelope_from {
            Some(sender) => format!("Return-Path: <{sender}>\r\n").into_bytes(),
            None => vec![],
        };
        bytes.extend(message.formatted());
        let written = match tokio::fs::write(&tmp, bytes).await {
            Ok(()) => tokio::fs::rename(&tmp, self.dir.join(name)).await,
            Err(e) => Err(e),
        };
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written.map_err(io)
    }
}
