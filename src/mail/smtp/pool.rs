//! SMTP connections, pooled by us rather than by lettre, for two reasons
//! measured on loopback: lettre never sets TCP_NODELAY, so every message
//! stalls ~40 ms on Nagle's algorithm meeting delayed ACKs (about 23
//! messages/s per connection); and its `PoolConfig::max_size` bounds idle
//! connections, not sends in flight. Here the socket is ours (nodelay set)
//! and a semaphore bounds concurrent sends to `mail.pool_size`.
//!
//! A connection idle for a while is checked with NOOP before reuse: a
//! server that closed it would otherwise fail the next message midway
//! ("incomplete response"). Any failed send drops its connection.
//!
//! Where the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go
//! in one write and their replies are read in order: two round trips per
//! message instead of four. lettre's connection has no pipelining, but its
//! `command` writes whatever it is given in one write and `read_response`
//! is public, which is all a pipelined group needs; lettre's ServerInfo
//! drops the PIPELINING keyword, so the connection asks EHLO once more
//! itself (README, *Sending fast*).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::DEFAULT_MECHANISMS;
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::server::{Server, Tls};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Reused without a NOOP when idle for less than this.
const FRESH: Duration = Duration::from_secs(5);
/// Closed instead of reused when idle for longer (servers time out idle
/// sessions at 60 to 300 s).
const STALE: Duration = Duration::from_secs(50);

/// Why a send failed: the server's reply, the way to it, or silence after
/// the message was handed over.
#[derive(Debug)]
pub enum Failure {
    Smtp(lettre::transport::smtp::Error),
    /// Before the message was handed over: nothing was delivered.
    Io(String),
    /// After: the server may have the message.
    Unknown(String),
}

/// A session, and whether its server takes pipelined commands.
pub struct Conn {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
}

pub struct Pool {
    server: Server,
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// Sends in flight, at most `mail.pool_size`.
    permits: Semaphore,
}

impl Pool {
    pub fn new(server: Server, size: usize) -> Pool {
        Pool { server, idle: Mutex::new(Vec::new()), permits: Semaphore::new(size.max(1)) }
    }

    /// One message, within `deadline`.
    pub async fn send(&self, envelope: &Envelope, message: &[u8], deadline: Duration) -> Result<(), Failure> {
        let until = tokio::time::Instant::now() + deadline;
        let _permit = self.permits.acquire().await.map_err(|e| Failure::Io(e.to_string()))?;
        let mut conn = match tokio::time::timeout_at(until, self.reuse()).await.ok().flatten() {
            Some(c) => c,
            None => tokio::time::timeout_at(until, self.connect())
                .await
                .map_err(|_| Failure::Io("no connection within the send deadline".into()))??,
        };
        match transact(&mut conn, envelope, message, until).await {
            Ok(()) => {
                self.park(conn);
                Ok(())
            }
            Err(e) => {
                conn.smtp.abort().await;
                Err(e)
            }
        }
    }

    /// Open (and keep) one connection: `run` refuses to start without it.
    pub async fn check(&self) -> Result<(), Failure> {
        let conn = self.connect().await?;
        self.park(conn);
        Ok(())
    }

    fn park(&self, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, Instant::now()));
        }
    }

    async fn reuse(&self) -> Option<Conn> {
        loop {
            let (mut conn, since) = self.idle.lock().ok()?.pop()?;
            let idle = since.elapsed();
            if conn.smtp.has_broken() || idle > STALE {
                conn.smtp.abort().await;
                continue;
            }
            if idle < FRESH || conn.smtp.test_connected().await {
                return Some(conn);
            }
        }
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let s = &self.server;
        // The system's CA store (lettre's rustls-native-certs), and
        // `mail.ca_file`'s certificates.
        let tls = || {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(pem) = &s.ca_pem {
                b = b.add_root_certificate(Certificate::from_pem(pem).map_err(Failure::Smtp)?);
            }
            b.build_rustls().map_err(Failure::Smtp)
        };
        let mut conn = match s.tls {
            // Implicit TLS: lettre opens this socket itself, without
            // nodelay (README: prefer 587 with STARTTLS for throughput).
            Tls::Wrapper => AsyncSmtpConnection::connect_tokio1(
                (s.host.as_str(), s.port),
                Some(CONNECT_TIMEOUT),
                &s.hello,
                Some(tls()?),
                None,
            )
            .await
            .map_err(Failure::Smtp)?,
            _ => {
                let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((s.host.as_str(), s.port)))
                    .await
                    .map_err(|_| Failure::Io(format!("no connection to {}:{} within 30 s", s.host, s.port)))?
                    .map_err(|e| Failure::Io(format!("{}:{}: {e}", s.host, s.port)))?;
                tcp.set_nodelay(true).map_err(|e| Failure::Io(e.to_string()))?;
                let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &s.hello)
                    .await
                    .map_err(Failure::Smtp)?;
                if s.tls == Tls::Required || (s.tls == Tls::Opportunistic && conn.can_starttls()) {
                    conn.starttls(tls()?, &s.hello).await.map_err(Failure::Smtp)?;
                }
                conn
            }
        };
        // Before AUTH: a second EHLO resets the session, and some servers
        // would forget the authentication with it.
        let ehlo = conn.command(Ehlo::new(s.hello.clone())).await.map_err(Failure::Smtp)?;
        let pipelining = ehlo.message().any(|line| line.eq_ignore_ascii_case("PIPELINING"));
        if let Some(credentials) = &s.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await.map_err(Failure::Smtp)?;
        }
        Ok(Conn { smtp: conn, pipelining })
    }
}

/// One mail transaction (what lettre's `send` does), stage by stage, so a
/// failure is placed: before the message is handed over nothing was
/// delivered and a retry is safe; once the data is sent, a lost connection
/// or a missing answer means the server may have it (`Unknown`), and
/// sending it again could deliver it twice.
async fn transact(
    conn: &mut Conn,
    envelope: &Envelope,
    message: &[u8],
    until: tokio::time::Instant,
) -> Result<(), Failure> {
    let mut options = Vec::new();
    let info = conn.smtp.server_info();
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    let non_ascii = envelope.from().is_some_and(|a| !ascii(a)) || envelope.to().iter().any(|a| !ascii(a));
    if non_ascii && info.supports_feature(Extension::SmtpUtfEight) {
        options.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() && info.supports_feature(Extension::EightBitMime) {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let mail = Mail::new(envelope.from().cloned(), options);
    if conn.pipelining {
        let mut group = mail.to_string();
        for to in envelope.to() {
            group.push_str(&Rcpt::new(to.clone(), Vec::new()).to_string());
        }
        group.push_str(&Data.to_string());
        pipelined(&mut conn.smtp, &group, envelope.to().len() + 2, until).await?;
    } else {
        command(&mut conn.smtp, mail, "MAIL", until).await?;
        for to in envelope.to() {
            command(&mut conn.smtp, Rcpt::new(to.clone(), Vec::new()), "RCPT", until).await?;
        }
        command(&mut conn.smtp, Data, "DATA", until).await?;
    }
    // One write for the message and its end (see `data.rs`); lettre's
    // own two writes for a message that is not UTF-8 (ours always are).
    let data = super::data::stuffed(message);
    let handed = match std::str::from_utf8(&data) {
        Ok(text) => tokio::time::timeout_at(until, conn.smtp.command(text)).await,
        Err(_) => tokio::time::timeout_at(until, conn.smtp.message(message)).await,
    };
    match handed {
        Ok(Ok(_)) => Ok(()),
        // The server answered: its verdict stands (4xx retry, 5xx bounce).
        Ok(Err(e)) if e.status().is_some() => Err(Failure::Smtp(e)),
        Ok(Err(e)) => Err(Failure::Unknown(format!("after the message was sent: {e}"))),
        Err(_) => Err(Failure::Unknown("no answer to the message within the send deadline".into())),
    }
}

/// A pipelined group (MAIL, RCPT..., DATA) written at once, and its
/// `replies` read in order. Every reply is read before a verdict, so a
/// refusal leaves the session in step; the first refusal is the verdict
/// (a refused MAIL or RCPT makes the server refuse DATA as well). Nothing
/// was handed over yet, so silence is an I/O failure, as for one command.
async fn pipelined(
    smtp: &mut AsyncSmtpConnection,
    group: &str,
    replies: usize,
    until: tokio::time::Instant,
) -> Result<(), Failure> {
    let late = || Failure::Io("no answer to MAIL, RCPT and DATA within the send deadline".into());
    let mut verdict = Ok(());
    let mut reply = tokio::time::timeout_at(until, smtp.command(group)).await.map_err(|_| late())?.map(|_| ());
    for n in 1..=replies {
        match reply {
            Ok(()) => {}
            Err(e) if e.status().is_none() => return Err(Failure::Io(e.to_string())),
            Err(e) if verdict.is_ok() => verdict = Err(Failure::Smtp(e)),
            Err(_) => {}
        }
        if n == replies {
            break;
        }
        reply = tokio::time::timeout_at(until, smtp.read_response()).await.map_err(|_| late())?.map(|_| ());
    }
    verdict
}

/// One command before the message is handed over: a missing answer is an
/// I/O failure (nothing was delivered), a reply is the server's verdict.
async fn command<C: std::fmt::Display>(
    conn: &mut AsyncSmtpConnection,
    command: C,
    stage: &str,
    until: tokio::time::Instant,
) -> Result<(), Failure> {
    let late = || Failure::Io(format!("no answer to {stage} within the send deadline"));
    tokio::time::timeout_at(until, conn.command(command)).await.map_err(|_| late())?.map_err(Failure::Smtp)?;
    Ok(())
}
