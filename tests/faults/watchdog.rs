//! systemd's watchdog on a daemon that is idle most of the day, as it is
//! deployed: a real `nurture run` on PostgreSQL (through a proxy this test
//! owns) with nothing due, the notify socket and `WATCHDOG_USEC` the
//! test's. The shipped unit pings every 30 s (`WatchdogSec=60s`) and ticks
//! every 15 s: a tick shorter than the ping period. Here the same ratio,
//! scaled down: 1 s ticks, a 4 s watchdog (a ping every 2 s). Idle for
//! several watchdog periods, pings keep coming; once the database accepts
//! queries and never answers, the tick hangs and the pings stop.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::proxy::Proxy;
use crate::signals::{listen, said};
use crate::support::{Kill, PgDatabase};
use crate::{nurture, scene, wait};

const WATCHDOG: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_daemon_feeds_the_watchdog_and_a_hung_database_call_starves_it() {
    let db = PgDatabase::create("watchdog").await;
    let scene = scene(0, "[\"1s\"]", "", 0);
    let dir = scene.dir();
    assert!(nurture(dir, &db.url, &["migrate"]).status().unwrap().success());
    let proxy = Proxy::start().await;
    let notes = listen(&dir.join("notify.sock"));
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let _daemon = Kill(
        nurture(dir, &proxy.url(&db.url), &["run"])
            .env("NOTIFY_SOCKET", dir.join("notify.sock"))
            .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let ready = notes.clone();
    wait(dir, "READY=1", 30, move || !said(&ready, "READY=1").is_empty()).await;
    let since = Instant::now();

    // Idle: three watchdog periods, never a gap near the timeout.
    tokio::time::sleep(3 * WATCHDOG).await;
    let pings: Vec<Instant> = said(&notes, "WATCHDOG=1").into_iter().filter(|at| *at >= since).collect();
    assert!(pings.len() >= 5, "{} pings in {:?} of idling", pings.len(), 3 * WATCHDOG);
    let mut marks = vec![since];
    marks.extend(&pings);
    marks.push(Instant::now());
    let gap = marks.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap < WATCHDOG * 3 / 4, "a {gap:?} gap between pings while idle (timeout {WATCHDOG:?})");

    // The database now swallows every query: the next tick never returns.
    proxy.swallow();
    let hung = Instant::now();
    tokio::time::sleep(3 * WATCHDOG).await;
    let late: Vec<Duration> =
        said(&notes, "WATCHDOG=1").into_iter().filter(|at| *at >= hung).map(|at| at - hung).collect();
    let last = late.last().copied().unwrap_or_default();
    assert!(
        last < WATCHDOG,
        "pings went on {last:?} after the database stopped answering ({late:?}): systemd would never restart it"
    );
    db.drop_now().await;
}
