//! What the end-to-end test crates share: a real SMTP server process, the
//! messages it received, child processes that die with the test, and fresh
//! PostgreSQL databases. Each crate uses part of it.
#![allow(dead_code)]

pub mod browser;
pub mod cluster;
pub mod dovecot;
pub mod drip;
pub mod pgbouncer;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` on a fresh connection: the
/// status code (0 when nothing answers) and the whole response.
pub fn request(port: u16, method: &str, path: &str, headers: &str, body: impl AsRef<[u8]>) -> (u16, String) {
    use std::io::{Read, Write};
    let body = body.as_ref();
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    // A server may answer (413) and close before reading a large body.
    let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body));
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let code = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, out)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `tests/support/smtp_server.py` (aiosmtpd) writing what it accepts to
/// `out`; `delay_ms` holds every DATA reply that long.
pub fn smtp_server(out: &Path, delay_ms: u64) -> (Kill, u16) {
    smtp_server_on(out, free_port(), delay_ms)
}

/// [`smtp_server`] on a given port (a server coming back after an outage).
pub fn smtp_server_on(out: &Path, port: u16, delay_ms: u64) -> (Kill, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(port.to_string())
        .arg(out)
        .arg(delay_ms.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd (scripts/test installs python3-aiosmtpd)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the SMTP server did not start");
    (Kill(child), port)
}

/// Every message the server accepted, in arrival order.
pub fn received(out: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(out) else { return Vec::new() };
    let mut files: Vec<_> =
        dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
    files.sort();
    files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// Poll the daemon's work (due within seconds) until `done` holds.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fresh PostgreSQL database on 127.0.0.1:5432, dropped with the value.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl PgDatabase {
    /// `label` names the test; the pid keeps parallel runs apart
    /// (PostgreSQL cuts names at 63 bytes).
    pub async fn create(label: &str) -> PgDatabase {
        let name = format!("n_{label:.40}_{}", std::process::id());
        let mut c = sqlx::PgConnection::connect(ADMIN).await.expect("PostgreSQL on 127.0.0.1:5432");
        let run = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql));
        run(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await.unwrap();
        run(format!("CREATE DATABASE {name}")).execute(&mut c).await.unwrap();
        PgDatabase { url: format!("postgres://postgres@127.0.0.1:5432/{name}"), name }
    }

    pub async fn drop_now(self) {
        let mut c = sqlx::PgConnection::connect(ADMIN).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
    }
}
