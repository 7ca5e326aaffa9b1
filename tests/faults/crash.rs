//! `nurture run` is SIGKILLed mid-batch, with sends in flight (the server
//! holds each reply 300 ms), then started again: it finishes the work;
//! what was cut off between the attempt and its outcome is `uncertain`,
//! never resent.

use std::time::Duration;

use crate::support::{PgDatabase, received};
use crate::{POOL, drip, nurture, scene, sqlite_url, start, wait};

async fn killed_mid_batch_then_restarted(url: &str) {
    let leads = 30;
    let scene = scene(leads, "[\"1s\"]", "", 300);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    assert!(nurture(dir, url, &["leads", "import", "leads.csv"]).status().unwrap().success());
    let daemon = start(dir, url, "first");
    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 10).await;
    let before = drip::states(url).await;
    drop(daemon); // SIGKILL: no chance to record what is in flight
    assert!(before.contains_key("sending"), "the kill came with sends in flight: {before:?}");

    let mut daemon = start(dir, url, "second");
    let want = 2 * leads as i64;
    drip::settle(url, want, Duration::from_secs(60)).await;
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let states = drip::assert_ledger(url, &received(inbox), want, POOL).await;
    eprintln!("after the kill: {states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_batch_on_sqlite_loses_and_repeats_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    killed_mid_batch_then_restarted(&sqlite_url(tmp.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_batch_on_postgres_loses_and_repeats_nothing() {
    let db = PgDatabase::create("sigkill").await;
    killed_mid_batch_then_restarted(&db.url).await;
    db.drop_now().await;
}
