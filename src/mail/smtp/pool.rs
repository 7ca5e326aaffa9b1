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

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::DEFAULT_MECHANISMS;
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::server::{Server, Tls};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Reused without a NOOP when idle for less than this.
const FRESH: Duration = Duration::from_secs(5);
/// Closed instead of reused when idle for longer (servers time out idle
/// sessions at 60 to 300 s).
const STALE: Duration = Duration::from_secs(50);

/// Why a send failed: the server's reply, or the way to it.
#[derive(Debug)]
pub enum Failure {
    Smtp(lettre::transport::smtp::Error),
    Io(String),
}

pub struct Pool {
    server: Server,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// Sends in flight, at most `mail.pool_size`.
    permits: Semaphore,
}

impl Pool {
    pub fn new(server: Server, size: usize) -> Pool {
        Pool { server, idle: Mutex::new(Vec::new()), permits: Semaphore::new(size.max(1)) }
    }

    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), Failure> {
        let _permit = self.permits.acquire().await.map_err(|e| Failure::Io(e.to_string()))?;
        let mut conn = match self.reuse().await {
            Some(c) => c,
            None => self.connect().await?,
        };
        match conn.send(envelope, message).await {
            Ok(_) => {
                self.park(conn);
                Ok(())
            }
            Err(e) => {
                conn.abort().await;
                Err(Failure::Smtp(e))
            }
        }
    }

    /// Open (and keep) one connection: `run` refuses to start without it.
    pub async fn check(&self) -> Result<(), Failure> {
        let conn = self.connect().await?;
        self.park(conn);
        Ok(())
    }

    fn park(&self, conn: AsyncSmtpConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, Instant::now()));
        }
    }

    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self.idle.lock().ok()?.pop()?;
            let idle = since.elapsed();
            if conn.has_broken() || idle > STALE {
                conn.abort().await;
                continue;
            }
            if idle < FRESH || conn.test_connected().await {
                return Some(conn);
            }
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let s = &self.server;
        let tls = || TlsParameters::new(s.host.clone()).map_err(Failure::Smtp);
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
        if let Some(credentials) = &s.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await.map_err(Failure::Smtp)?;
        }
        Ok(conn)
    }
}
