//! The SMTP server fails: down when the daemon starts and again mid-run,
//! killed for 30 s mid-run, refusing everything for a while (a burst of
//! 4xx), and refusing some recipients for good (5xx). A server that is down
//! is waited for; temporary failures are retried per `policy.retry` until
//! delivered; permanent ones bounce and suppress.

use std::time::{Duration, Instant};

use crate::support::{free_port, received, request, smtp_server_on};
use crate::{POOL, drip, log, nurture, project, scene, sqlite_url, start, wait};

/// The SMTP server is not there when `nurture run` starts (10 s), and
/// goes away again for 20 s mid-run. The daemon keeps running and serving
/// HTTP: `/healthz` and `/metrics` say the server is down, the API takes a
/// lead, an unsubscribe link works. Due steps wait without spending their
/// retries (the retry list is one 1 s wait), one log line marks each change
/// of state, and once the server answers everything is delivered once and
/// nothing failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_down_at_start_and_mid_run_is_waited_for_and_nothing_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (inbox, port, http) = (dir.join("inbox"), free_port(), free_port());
    let leads = 20;
    project(dir, port, leads, "[\"1s\"]", "");
    std::fs::write(dir.join("nurture.toml"), drip::config_serving(port, POOL as usize, "[\"1s\"]", "", Some(http)))
        .unwrap();
    std::fs::write(dir.join("token"), "t0ken\n").unwrap();
    let url = sqlite_url(dir);
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    let started = Instant::now();
    let mut daemon = start(dir, &url, "daemon");
    wait(dir, "HTTP with SMTP down", 20, move || {
        let (code, body) = request(http, "GET", "/healthz", "", "");
        code == 200 && body.contains("smtp: unreachable")
    })
    .await;
    let (_, metrics) = request(http, "GET", "/metrics", "", "");
    assert!(metrics.contains("nurture_smtp_up 0"), "{metrics}");
    let auth = "Content-Type: application/json\r\nAuthorization: Bearer t0ken\r\n";
    let (code, body) = request(http, "POST", "/api/leads", auth, r#"{"email": "late@x.test", "status": "new"}"#);
    assert_eq!(code, 200, "the API takes leads while SMTP is down: {body}");
    let key = std::fs::read(dir.join("var/secret")).unwrap();
    let unsubscribe = nurture::links::Links::new("https://nurture.example", &key).unsubscribe_url(1);
    let path = unsubscribe.strip_prefix("https://nurture.example").unwrap();
    assert_eq!(request(http, "POST", path, "", "List-Unsubscribe=One-Click").0, 200, "unsubscribe works");
    let attempted = drip::states(&url).await;
    assert!(
        attempted.keys().all(|s| s == "cancelled"),
        "nothing attempted while SMTP was down (the unsubscribe cancelled lead 1's steps): {attempted:?}"
    );

    tokio::time::sleep((started + Duration::from_secs(10)).saturating_duration_since(Instant::now())).await;
    let server = smtp_server_on(&inbox, port, 20);
    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 10).await;
    drop(server);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited during the outage");
    let after = dir.join("inbox-after");
    let _server = smtp_server_on(&after, port, 0);

    let want = 2 * (leads as i64 + 1);
    drip::settle(&url, want, Duration::from_secs(60)).await;
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let both = [received(&inbox), received(&after)].concat();
    let states = drip::assert_ledger(&url, &both, want, POOL).await;
    assert_eq!(states.get("failed"), None, "no step spent its retries on a server known down: {states:?}");
    assert_eq!(states.get("cancelled"), Some(&2), "lead 1 unsubscribed: {states:?}");
    assert!(both.iter().any(|m| m.contains("To: late@x.test")), "the API's lead was sent to");
    let logs = log(dir, "daemon");
    assert_eq!(logs.matches("SMTP server unreachable").count(), 2, "one line per outage:\n{logs}");
    assert_eq!(logs.matches("SMTP server answers again").count(), 2, "one line per recovery:\n{logs}");
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
