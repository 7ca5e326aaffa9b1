//! PostgreSQL goes away mid-run: its network is cut (a TCP proxy this test
//! owns drops every connection and refuses new ones), or the server itself
//! restarts (a private cluster, so the server other tests use stays up).
//! The daemon keeps running, reconnects, and loses or repeats nothing.

use std::time::Duration;

use crate::proxy::Proxy;
use crate::support::cluster::Cluster;
use crate::support::{PgDatabase, received};
use crate::{POOL, drip, log, nurture, scene, start, wait};

/// Retries outlast the outages below.
const RETRY: &str = "[\"1s\", \"2s\", \"2s\", \"5s\", \"5s\"]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_network_outage_mid_run_is_survived_without_loss_or_duplicates() {
    let db = PgDatabase::create("db_outage").await;
    let leads = 80;
    let scene = scene(leads, RETRY, "", 20);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    assert!(nurture(dir, &db.url, &["migrate"]).status().unwrap().success());
    let proxy = Proxy::start().await;
    let via_proxy = db.url.replace(":5432/", &format!(":{}/", proxy.port));
    let mut daemon = start(dir, &via_proxy, "daemon");
    assert!(nurture(dir, &db.url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    // The fault mid-batch: some messages out, most not.
    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 20).await;
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited during the outage");
    proxy.set_down(false);

    let want = 2 * leads as i64;
    drip::settle(&db.url, want, Duration::from_secs(60)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon is still running");
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    // Outcomes the daemon knew are written once the database is back, so
    // `uncertain` is usually zero; never more than the sends in flight.
    let states = drip::assert_ledger(&db.url, &received(inbox), want, POOL).await;
    eprintln!("after the network outage: {states:?}");
    let logs = log(dir, "daemon");
    let noticed = ["Tick failed", "Cannot record an outcome"].iter().any(|m| logs.contains(m));
    assert!(noticed, "the outage was noticed and logged");
    db.drop_now().await;
}

/// The database server restarts mid-run (stopped for 3 s): the daemon
/// reconnects without exiting; the ledger holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_mid_run_is_survived_without_loss_or_duplicates() {
    let cluster = tokio::task::spawn_blocking(|| {
        let c = Cluster::init();
        c.start();
        c
    })
    .await
    .unwrap();
    let url = cluster.url();
    let leads = 80;
    let scene = scene(leads, RETRY, "", 20);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    let mut daemon = start(dir, &url, "daemon");
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 20).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        std::thread::sleep(Duration::from_secs(3));
        cluster.start();
        cluster
    })
    .await
    .unwrap();
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited when the database restarted");

    let want = 2 * leads as i64;
    drip::settle(&url, want, Duration::from_secs(60)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon is still running");
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let states = drip::assert_ledger(&url, &received(inbox), want, POOL).await;
    eprintln!("after the restart: {states:?}");
    assert!(log(dir, "daemon").contains("57P01") || log(dir, "daemon").contains("terminat"), "the restart was logged");
    drop(cluster);
}
