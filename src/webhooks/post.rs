//! Webhook requests: HTTP/1.1 POSTs over TCP, or TLS trusting the system's
//! CA store (as every other server nurture reaches), with a limit on the
//! whole exchange, on keep-alive connections kept per webhook (a new
//! TCP and TLS handshake per event would cost more than the event). Built
//! on hyper (already serving nurture's own HTTP) rather than a second HTTP
//! stack.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One receiver's address and the idle connections to it.
pub struct Client {
    url: url::Url,
    host: String,
    port: u16,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// Idle connections kept per receiver: as many as requests sent at once.
const KEEP: usize = 32;

impl Client {
    /// A client for `url`, or why it cannot be one.
    pub fn new(url: &str) -> Result<Client, String> {
        let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let host = u.host_str().ok_or("no host")?.trim_matches(|c| c == '[' || c == ']').to_string();
        let port = u.port_or_known_default().ok_or("no port")?;
        Ok(Client { url: u, host, port, idle: Mutex::new(Vec::new()) })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// POST `body`: the status the receiver answered, or why there is none
    /// (refused, timed out, TLS, a broken answer): a retry later in either
    /// case but 2xx.
    pub async fn post(&self, headers: &[(&str, String)], body: Vec<u8>, limit: Duration) -> Result<u16, String> {
        match tokio::time::timeout(limit, self.exchange(headers, Bytes::from(body))).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", limit.as_secs_f64())),
        }
    }

    async fn exchange(&self, headers: &[(&str, String)], body: Bytes) -> Result<u16, String> {
        // A kept connection the receiver closed meanwhile fails before it
        // answers: the request goes once more on a new one.
        if let Some(sender) = self.kept().await
            && let Ok(status) = self.send(sender, headers, body.clone()).await
        {
            return Ok(status);
        }
        let sender = self.connect().await?;
        self.send(sender, headers, body).await
    }

    /// An idle connection still open, if one is kept.
    async fn kept(&self) -> Option<SendRequest<Full<Bytes>>> {
        loop {
            let mut sender = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn send(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<u16, String> {
        let mut request = hyper::Request::post(self.url.as_str())
            .header(hyper::header::HOST, self.url.host_str().unwrap_or_default())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, concat!("nurture/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| format!("http: {e}"))?;
        let status = response.status().as_u16();
        // Read the answer to its end so the connection can carry the next.
        response.into_body().collect().await.map_err(|e| format!("http: {e}"))?;
        if !sender.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < KEEP {
                idle.push(sender);
            }
        }
        Ok(status)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        if self.url.scheme() == "https" {
            let tls = tls(&self.host, tcp).await?;
            handshake(TokioIo::new(tls)).await
        } else {
            handshake(TokioIo::new(tcp)).await
        }
    }
}

/// The connection's driver runs until the receiver or nurture closes it
/// (its last sender dropped); an error there surfaces in the request.
async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("http: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on a connection of its own (`nurture webhooks test`).
pub async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>, limit: Duration) -> Result<u16, String> {
    Client::new(url)?.post(headers, body, limit).await
}

async fn tls(host: &str, tcp: TcpStream) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let roots = crate::tls::roots(None)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| format!("tls: {e}"))
}
