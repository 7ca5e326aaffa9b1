//! `[inbound]`: the mailbox nurture reads for replies, automatic replies,
//! bounces and complaints (README, *Inbound mail*).

use chrono::TimeDelta;
use std::path::PathBuf;

use super::file::InboundFile;
use crate::fields::Fields;

#[derive(Debug, Clone)]
pub struct Inbound {
    /// `imaps://user@host[:port]/FOLDER` (or `imap://` for a server on this
    /// machine); `None`: no mailbox is read.
    pub imap_url: Option<url::Url>,
    pub password_file: Option<PathBuf>,
    /// Where handled machine mail is moved (created if missing).
    pub processed_folder: String,
    /// Where a message whose handling failed three times is set aside for
    /// a person (created if missing).
    pub quarantine_folder: String,
    /// How often the mailbox is read when the server offers no IDLE, and
    /// the longest an IDLE waits before it looks again.
    pub poll: TimeDelta,
    /// An out-of-office reply without a readable return date pauses its
    /// lead this long.
    pub ooo_pause: TimeDelta,
    /// The longest an out-of-office reply pauses its lead, from when
    /// nurture reads it, whatever date it states.
    pub ooo_max: TimeDelta,
    /// CA certificates (PEM) trusted besides the system's store.
    pub ca_file: Option<PathBuf>,
}

impl Default for Inbound {
    fn default() -> Inbound {
        Inbound {
            imap_url: None,
            password_file: None,
            processed_folder: "nurture/processed".into(),
            quarantine_folder: "nurture/quarantine".into(),
            poll: TimeDelta::seconds(60),
            ooo_pause: TimeDelta::days(7),
            ooo_max: TimeDelta::days(60),
            ca_file: None,
        }
    }
}

pub(super) fn resolve(raw: InboundFile, f: &mut Fields, base: &std::path::Path) -> Inbound {
    let d = Inbound::default();
    let url = raw.imap_url.filter(|u| !u.get_ref().trim().is_empty());
    let imap_url = url.as_ref().and_then(|u| f.parse(u, |s| check_imap_url(s)));
    if let Some(u) = &url
        && raw.password_file.as_ref().is_none_or(|p| p.trim().is_empty())
    {
        f.error(u, "inbound.imap_url needs inbound.password_file: a file holding the mailbox's password");
    }
    Inbound {
        imap_url,
        password_file: raw.password_file.filter(|p| !p.trim().is_empty()).map(|p| base.join(p)),
        processed_folder: raw
            .processed_folder
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or(d.processed_folder),
        quarantine_folder: raw
            .quarantine_folder
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or(d.quarantine_folder),
        poll: raw.poll.and_then(|p| f.duration(&p)).unwrap_or(d.poll).max(TimeDelta::seconds(1)),
        ooo_pause: raw.ooo_pause.and_then(|p| f.duration(&p)).unwrap_or(d.ooo_pause),
        ooo_max: raw.ooo_max.and_then(|p| f.duration(&p)).unwrap_or(d.ooo_max).max(TimeDelta::days(1)),
        ca_file: raw.ca_file.filter(|p| !p.trim().is_empty()).map(|p| base.join(p)),
    }
}

fn check_imap_url(s: &str) -> Result<url::Url, String> {
    let example = "e.g. \"imaps://nurture@imap.example.com/INBOX\"";
    let u = url::Url::parse(s.trim()).map_err(|e| format!("inbound.imap_url {s:?} is not a URL ({e}); {example}"))?;
    if u.scheme() != "imaps" && u.scheme() != "imap" {
        return Err(format!("inbound.imap_url must start with imaps:// (or imap:// on this machine); {example}"));
    }
    if u.host_str().is_none_or(str::is_empty) || u.username().is_empty() {
        return Err(format!("inbound.imap_url needs a user and a host; {example}"));
    }
    if !u.password().unwrap_or("").is_empty() {
        return Err("inbound.imap_url must not hold the password: put it in inbound.password_file".into());
    }
    Ok(u)
}
