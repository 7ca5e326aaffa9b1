//! A TCP proxy to PostgreSQL that this test owns: it can go down (every
//! connection through it cut, new ones closed at once: the network is
//! gone) or swallow (bytes from the daemon are read and dropped, nothing
//! comes back: a server that accepts and never answers).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    swallow: Arc<AtomicBool>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (down, swallow) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (flag, quiet) = (down.clone(), swallow.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let (flag, quiet) = (flag.clone(), quiet.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect("127.0.0.1:5432").await else { return };
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from_client.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if !quiet.load(Ordering::SeqCst) && to_server.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let back = tokio::io::copy(&mut from_server, &mut to_client);
                    let cut = async {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = up => {}, _ = back => {}, _ = cut => {} }
                });
            }
        });
        Proxy { port, down, swallow }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// From now on, what the daemon sends is dropped and it gets no answer.
    pub fn swallow(&self) {
        self.swallow.store(true, Ordering::SeqCst);
    }

    /// `url` (a database on 127.0.0.1:5432) through this proxy.
    pub fn url(&self, url: &str) -> String {
        url.replace(":5432/", &format!(":{}/", self.port))
    }
}
