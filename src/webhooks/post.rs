//! One webhook request: an HTTP/1.1 POST over TCP, or TLS trusting the
//! system's CA store (as every other server nurture reaches), with a limit
//! on the whole exchange. Built on hyper (already serving nurture's own
//! HTTP) rather than a second HTTP stack.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The status a receiver answered, or why there is none (refused, timed
/// out, TLS, a broken answer): a retry later in either case but 2xx.
pub async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>, limit: Duration) -> Result<u16, String> {
    match tokio::time::timeout(limit, exchange(url, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", limit.as_secs_f64())),
    }
}

async fn exchange(url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Result<u16, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let host = u.host_str().ok_or("no host")?.trim_matches(|c| c == '[' || c == ']').to_string();
    let port = u.port_or_known_default().ok_or("no port")?;
    let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut request = hyper::Request::post(u.as_str())
        .header(hyper::header::HOST, u.host_str().unwrap_or_default())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("nurture/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    if u.scheme() == "https" {
        let tls = tls(&host, tcp).await?;
        send(TokioIo::new(tls), request).await
    } else {
        send(TokioIo::new(tcp), request).await
    }
}

async fn send<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<u16, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("http: {e}"))?;
    let conn = tokio::spawn(conn);
    let response = sender.send_request(request).await.map_err(|e| format!("http: {e}"));
    let status = match response {
        Ok(r) => {
            let status = r.status().as_u16();
            // Read (and drop) the answer so the exchange ends cleanly.
            let _ = r.into_body().collect().await;
            Ok(status)
        }
        Err(e) => Err(e),
    };
    conn.abort();
    status
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
