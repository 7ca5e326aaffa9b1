//! Serving HTTP to strangers: the link pages and the API face the
//! internet, where clients are slow or hostile. Each connection has a
//! header-read timeout (hyper's), an idle timeout (no byte either way),
//! and at most `[http] max_connections` are served at once (more are
//! closed as they come, so a flood of unfinished requests can never run
//! the process out of file descriptors and `/healthz` keeps answering once
//! the slow ones time out). The peer's address goes to the handlers
//! (`ConnectInfo`), for the per-client limits.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// A request's head must arrive whole within this.
pub const HEADER_READ: Duration = Duration::from_secs(10);
/// A connection with no byte read or written for this long is closed.
pub const IDLE: Duration = Duration::from_secs(30);
/// How long a stop waits for requests in progress.
const DRAIN: Duration = Duration::from_secs(1);

/// Serve `app` on `listener` until `stop`; requests in progress then get
/// [`DRAIN`] to finish.
pub async fn serve(listener: &TcpListener, app: Router, max_connections: usize, stop: CancellationToken) {
    let open = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or memory: wait for some to be freed.
                tracing::warn!(error = %e, "HTTP accept failed; retrying.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            crate::telemetry::http_refused();
            continue; // dropped: closed at once
        };
        let (app, stop) = (app.clone(), stop.clone());
        connections.spawn(async move {
            connection(stream, peer, app, stop).await;
            drop(permit);
        });
    }
    connections.close();
    let _ = tokio::time::timeout(DRAIN, connections.wait()).await;
}

async fn connection(stream: TcpStream, peer: SocketAddr, app: Router, stop: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Watched { inner: stream, started, last: last.clone() });
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let idle = async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let quiet = started.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
            if quiet >= IDLE {
                return;
            }
        }
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = idle => {} // dropped: closed
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn).await;
        }
    }
}

/// A socket that notes when a byte last moved either way, in milliseconds
/// since `started`.
struct Watched {
    inner: TcpStream,
    started: Instant,
    last: Arc<AtomicU64>,
}

impl Watched {
    fn moved(&self) {
        self.last.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.moved();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
