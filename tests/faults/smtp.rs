//! The SMTP server fails: down when the daemon starts, killed for 30 s
//! mid-run, refusing everything for a while (a burst of 4xx), and refusing
//! some recipients for good (5xx). Temporary failures are retried per
//! `policy.retry` until delivered; permanent ones bounce and suppress.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Kill, free_port, received, smtp_server_on};
use crate::{POOL, drip, log, nurture, project, scene, sqlite_url, start, wait};

/// The SMTP server is not there when `nurture run` starts: it exits 3 at
/// once, naming the server (README, *Commands*: environment failure at start-up), having
/// sent or consumed nothing; restarted the way systemd's
/// `Restart=on-failure` does, it delivers everything once the server is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_down_at_start_fails_fast_and_a_restart_delivers_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (inbox, port) = (dir.join("inbox"), free_port());
    let leads = 20;
    project(dir, port, leads, "[\"1s\"]", "");
    let url = sqlite_url(dir);
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    let started = Instant::now();
    let out = nurture(dir, &url, &["run"]).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?} to give up", started.elapsed());
    assert!(stderr.contains("SMTP") && stderr.contains(&port.to_string()), "names the server: {stderr}");
    assert!(drip::states(&url).await.is_empty(), "nothing attempted while SMTP was down");

    // A supervisor's restarts, as the shipped unit asks systemd for, while
    // the server comes up a little later.
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nurture.service")).unwrap();
    assert!(unit.lines().any(|l| l.trim() == "Restart=on-failure"), "the unit restarts nurture after exit 3");
    let up_in = Instant::now() + Duration::from_secs(3);
    let mut server = None;
    let mut attempts = 0;
    let daemon = loop {
        if server.is_none() && Instant::now() >= up_in {
            server = Some(smtp_server_on(&inbox, port, 0));
        }
        attempts += 1;
        let mut d = start(dir, &url, "daemon");
        tokio::time::sleep(Duration::from_secs(1)).await;
        match d.0.try_wait().unwrap() {
            None => break d,
            Some(status) => assert_eq!(status.code(), Some(3), "{}", log(dir, "daemon")),
        }
    };
    assert!(attempts > 1, "the first restart came before the server was up");
    let want = 2 * leads as i64;
    drip::settle(&url, want, Duration::from_secs(30)).await;
    let mut daemon: Kill = daemon;
    assert!(drip::stop(&mut daemon.0));
    let states = drip::assert_ledger(&url, &received(&inbox), want, 0).await;
    assert_eq!(states.get("sent"), Some(&want), "{states:?}");
    drop(server);
}

/// The SMTP server is killed mid-run and comes back 30 s later on the same
/// port: sends that failed before the message was handed over are retried
/// (the retry list spans 53 s); those cut off after it are `uncertain`,
/// never resent (the server had written them). SQLite this time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_of_30s_mid_run_is_retried_until_everything_is_delivered_once() {
    let leads = 40;
    let mut scene = scene(leads, "[\"1s\", \"2s\", \"5s\", \"10s\", \"15s\", \"20s\"]", "", 20);
    let (server, smtp_port) = (scene.server.take(), scene.port);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    // No `migrate` first: the daemon and the import below both open the
    // new file (and migrate it) at once.
    let url = sqlite_url(dir);
    let mut daemon = start(dir, &url, "daemon");
    let import = nurture(dir, &url, &["leads", "import", "leads.csv"]).output().unwrap();
    assert!(import.status.success(), "{import:?}");

    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 10).await;
    drop(server); // SIGKILL: connections reset, the port refuses
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited during the outage");
    // The new server process writes to a folder of its own (its file
    // numbers start again); the two together are what was received.
    let after = dir.join("inbox-after");
    let (_server, _) = smtp_server_on(&after, smtp_port, 20);

    let want = 2 * leads as i64;
    drip::settle(&url, want, Duration::from_secs(90)).await;
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let both = [received(inbox), received(&after)].concat();
    let states = drip::assert_ledger(&url, &both, want, POOL).await;
    eprintln!("after the SMTP outage: {states:?}");
    assert_eq!(states.get("failed"), None, "retries outlasted the outage: {states:?}");
    assert!(log(dir, "daemon").contains("Temporary failure; will retry."), "the outage was retried");
}

/// The server refuses every transaction with 451 for 4 s mid-run, and some
/// recipients for good with 550 5.1.1: the burst is retried until
/// delivered; each refused recipient is `bounced` once, suppressed, and
/// its next step cancelled. PostgreSQL this time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_burst_is_retried_and_5xx_recipients_bounce_and_are_suppressed() {
    let db = crate::support::PgDatabase::create("smtp_burst").await;
    let (leads, bounces) = (40, 4);
    let extra: String = (0..bounces).map(|i| format!("bounce{i}@x.test,new\n")).collect();
    let scene = scene(leads, "[\"1s\", \"2s\", \"2s\", \"5s\", \"5s\"]", &extra, 20);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    let url = db.url.clone();
    assert!(nurture(dir, &url, &["migrate"]).status().unwrap().success());
    let mut daemon = start(dir, &url, "daemon");
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 10).await;
    let busy = dir.join("inbox.busy");
    std::fs::write(&busy, "").unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    std::fs::remove_file(&busy).unwrap();

    let want = 2 * (leads + bounces) as i64;
    drip::settle(&url, want, Duration::from_secs(60)).await;
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let states = drip::assert_ledger(&url, &received(inbox), want, 0).await;
    let n = |s: &str| states.get(s).copied().unwrap_or(0);
    assert_eq!(n("sent"), 2 * leads as i64, "{states:?}");
    assert_eq!((n("bounced"), n("cancelled")), (bounces as i64, bounces as i64), "{states:?}");
    for i in 0..bounces {
        let again = nurture(dir, &url, &["suppress", &format!("bounce{i}@x.test")]).output().unwrap();
        assert!(String::from_utf8_lossy(&again.stdout).contains("already suppressed"), "bounce{i} is suppressed");
    }
    let logs = log(dir, "daemon");
    assert!(logs.contains("451") && logs.contains("Temporary failure; will retry."), "the burst was retried");
    db.drop_now().await;
}
