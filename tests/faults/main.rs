//! The bad day, with real processes: `nurture run` sending to a real SMTP
//! server (aiosmtpd) on a real SQLite file or PostgreSQL database while
//! something fails: the daemon is killed, the SMTP server goes away or
//! refuses, the database restarts or its network is cut, the outbox cannot
//! be written. Every case ends with the ledger (`drip::assert_ledger`):
//! each due step has one final state, nothing was received twice, and
//! `uncertain` is bounded by the sends in flight at the fault.

#[path = "../support/mod.rs"]
mod support;

mod crash;
mod database;
mod guardrails;
mod outbox;
mod proxy;
mod reload;
mod signals;
mod smtp;
mod watchdog;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::drip::{self, nurture};
use support::{Kill, smtp_server};

/// SMTP connections, and so sends in flight at once.
const POOL: i64 = 4;

/// The drip project with `leads` leads (plus `extra` CSV rows) and a retry
/// list that outlasts each fault below.
fn project(dir: &Path, smtp_port: u16, leads: usize, retry: &str, extra: &str) {
    drip::project(dir, smtp_port, POOL as usize, retry, leads, extra);
}

/// A project folder for one case and the SMTP server it sends to (every
/// DATA reply held `delay_ms`), what it received in `inbox`.
struct Scene {
    tmp: tempfile::TempDir,
    inbox: PathBuf,
    server: Option<Kill>,
    port: u16,
}

fn scene(leads: usize, retry: &str, extra: &str, delay_ms: u64) -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let (server, port) = smtp_server(&inbox, delay_ms);
    project(tmp.path(), port, leads, retry, extra);
    Scene { tmp, inbox, server: Some(server), port }
}

impl Scene {
    fn dir(&self) -> &Path {
        self.tmp.path()
    }
}

/// `nurture run`, its log in `dir/NAME.log`.
fn start(dir: &Path, url: &str, name: &str) -> Kill {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Kill(nurture(dir, url, &["run"]).stderr(Stdio::from(log)).spawn().unwrap())
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("n.db").display())
}

/// Wait (off the runtime's threads) for `done`; a timeout fails with the
/// end of every log in `dir`, the daemons' side of the story.
async fn wait(dir: &Path, what: &'static str, secs: u64, done: impl FnMut() -> bool + Send + 'static) {
    let waited =
        tokio::task::spawn_blocking(move || support::wait_for(what, std::time::Duration::from_secs(secs), done)).await;
    let Err(e) = waited else { return };
    let mut logs = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            logs += &format!("--- {}\n{tail}\n", entry.path().display());
        }
    }
    let panic = e.into_panic();
    let why = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
    panic!("{}\n{logs}", why.unwrap_or_default());
}
