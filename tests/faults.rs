//! The bad day, with real processes: `nurture run` on PostgreSQL sending to
//! a real SMTP server (aiosmtpd) while its database connection is cut. The
//! database is reached through a TCP proxy this test owns, so an outage is
//! real to the daemon (connections reset, new ones refused) without
//! stopping the server other tests use. Each case ends with the ledger.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::drip::{self, nurture, states};
use support::{Kill, PgDatabase, received, smtp_server, wait_for};
use tokio::net::{TcpListener, TcpStream};

const POOL: i64 = 4;

/// A TCP proxy to PostgreSQL that can go down: while down, every
/// connection through it is cut and new ones are closed at once.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let flag = down.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await else { return };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let cut = async {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = cut => {} }
                });
            }
        });
        Proxy { port, down }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

fn project(dir: &Path, smtp_port: u16, leads: usize) {
    // Retries outlast the SMTP outage below (9 s against 3 s).
    drip::project(dir, smtp_port, POOL as usize, "[\"1s\", \"2s\", \"2s\", \"2s\", \"2s\"]", leads, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_run_is_survived_without_loss_or_duplicates() {
    let db = PgDatabase::create("db_outage").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (_server, smtp_port) = smtp_server(&inbox, 20);
    let leads = 80;
    project(dir, smtp_port, leads);
    assert!(nurture(dir, &db.url, &["migrate"]).status().unwrap().success());
    let proxy = Proxy::start().await;
    let via_proxy = db.url.replace(":5432/", &format!(":{}/", proxy.port));
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let mut daemon = Kill(nurture(dir, &via_proxy, &["run"]).stderr(Stdio::from(log)).spawn().unwrap());
    assert!(nurture(dir, &db.url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    // Arrange the fault mid-batch: some messages out, most not.
    let (inbox2, inbox3) = (inbox.clone(), inbox.clone());
    tokio::task::spawn_blocking(move || {
        wait_for("the first messages", Duration::from_secs(30), || received(&inbox2).len() >= 20)
    })
    .await
    .unwrap();
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited during the outage");
    proxy.set_down(false);

    let want = 2 * leads as i64;
    tokio::task::spawn_blocking(move || {
        wait_for("every step to end", Duration::from_secs(60), || received(&inbox3).len() as i64 >= want - POOL)
    })
    .await
    .unwrap();
    let mut settled = HashMap::new();
    for _ in 0..150 {
        settled = states(&db.url).await;
        if drip::finished(&settled) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon is still running");
    assert!(drip::stop(&mut daemon.0), "a clean stop");

    // The ledger: every step final; each message received at most once,
    // every `sent` one exactly once; `uncertain` only for what was in
    // flight when the connection went (outcomes known to the daemon are
    // written once the database is back, so usually none).
    let (sent, uncertain) = (settled.get("sent").copied().unwrap_or(0), settled.get("uncertain").copied().unwrap_or(0));
    eprintln!("after the outage: {settled:?}");
    assert_eq!(sent + uncertain, want, "{settled:?}");
    assert!(uncertain <= POOL, "uncertain {uncertain} beyond the {POOL} sends in flight: {settled:?}");
    let counts = drip::counts(&received(&inbox));
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "came twice: {twice:?}");
    drip::every_sent_received_once(&db.url, &counts).await;
    let logs = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    let noticed = ["Tick failed", "Cannot record an outcome"].iter().any(|m| logs.contains(m));
    assert!(noticed, "the outage was noticed and logged");
    db.drop_now().await;
}

/// The SMTP server is killed mid-run and comes back on the same port:
/// sends that failed before the message was handed over are retried per
/// `policy.retry`; those cut off after it are `uncertain`, never resent
/// (the server had written them). Every message arrives exactly once
/// (SQLite this time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_mid_run_is_retried_until_everything_is_delivered_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (server, smtp_port) = smtp_server(&inbox, 20);
    let leads = 40;
    project(dir, smtp_port, leads);
    // No `migrate` first: the daemon and the import below both open the
    // new file (and migrate it) at once.
    let url = format!("sqlite://{}", dir.join("n.db").display());
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let mut daemon = Kill(nurture(dir, &url, &["run"]).stderr(Stdio::from(log)).spawn().unwrap());
    let import = nurture(dir, &url, &["leads", "import", "leads.csv"]).output().unwrap();
    assert!(import.status.success(), "{import:?}");

    let first = inbox.clone();
    let waited = tokio::task::spawn_blocking(move || {
        wait_for("the first messages", Duration::from_secs(30), || received(&first).len() >= 10)
    })
    .await;
    assert!(waited.is_ok(), "{}", std::fs::read_to_string(dir.join("daemon.log")).unwrap());
    drop(server); // SIGKILL: connections reset, the port refuses
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The new server process writes to a folder of its own (its file
    // numbers start again); the two together are what was received.
    let after = dir.join("inbox-after");
    let (_server, _) = support::smtp_server_on(&after, smtp_port, 20);
    let both = {
        let (inbox, after) = (inbox.clone(), after.clone());
        move || [received(&inbox), received(&after)].concat()
    };

    // Wait for the ledger: every step final.
    let want = 2 * leads as i64;
    let ledger = || {
        let out = nurture(dir, &url, &["status", "--json"]).output().unwrap();
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let n = |k: &str| status["total"][k].as_i64().unwrap_or(0);
        (n("sent"), n("uncertain"), status)
    };
    let mut last = ledger();
    for _ in 0..300 {
        if last.0 + last.1 == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        last = ledger();
    }
    assert!(drip::stop(&mut daemon.0), "a clean stop");

    // Killed mid-transaction, the server may have written a message without
    // answering: such steps are `uncertain` (never resent; received once or
    // not at all); every other step is `sent` and received exactly once.
    let (sent, uncertain, status) = last;
    assert_eq!(sent + uncertain, want, "{status}");
    assert!(uncertain <= POOL, "{status}");
    let counts = drip::counts(&both());
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "came twice: {twice:?}");
    assert!(counts.len() as i64 >= sent && counts.len() as i64 <= want, "{} received, {status}", counts.len());
    let logs = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert!(logs.contains("Temporary failure; will retry."), "the outage was retried");
}

/// The outbox cannot be written (here its path is a file; a full disk or
/// a read-only mount fail the same way): each send is a temporary failure,
/// logged with the path and the reason, and once the folder is usable
/// again every message is written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_outbox_is_retried_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(dir, 1, 10);
    let config = std::fs::read_to_string(dir.join("nurture.toml")).unwrap();
    let config = config.replace("transport = \"smtp\"", "transport = \"outbox\"\noutbox_dir = \"out\"");
    std::fs::write(dir.join("nurture.toml"), config).unwrap();
    std::fs::write(dir.join("out"), "not a folder").unwrap();
    let url = format!("sqlite://{}", dir.join("n.db").display());
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let mut daemon = Kill(nurture(dir, &url, &["run"]).stderr(Stdio::from(log)).spawn().unwrap());
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).output().unwrap().status.success());

    let logs = dir.join("daemon.log");
    let failing = move || std::fs::read_to_string(&logs).unwrap().contains("Temporary failure; will retry.");
    tokio::task::spawn_blocking(move || wait_for("a failed write", Duration::from_secs(20), failing)).await.unwrap();
    let text = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    let line = text.lines().find(|l| l.contains("Temporary failure")).unwrap();
    assert!(line.contains("outbox") && line.contains("out"), "the error names the outbox: {line}");
    std::fs::remove_file(dir.join("out")).unwrap();

    let out = dir.join("out");
    let all = move || {
        std::fs::read_dir(&out)
            .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count())
            .unwrap_or(0)
    };
    let count = all.clone();
    tokio::task::spawn_blocking(move || wait_for("every message", Duration::from_secs(30), || count() >= 20))
        .await
        .unwrap();
    assert!(drip::stop(&mut daemon.0));
    assert_eq!(all(), 20, "each (lead, step) written once");
    let status = nurture(dir, &url, &["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["total"]["sent"], 20, "{status}");
    assert_eq!(status["total"]["failed"], 0, "{status}");
}
