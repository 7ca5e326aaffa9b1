//! A long tick under systemd's eyes. A rate limit of one message a second
//! makes the first tick last half a minute; the test owns the notify
//! socket (`NOTIFY_SOCKET`), a 2 s watchdog (`WATCHDOG_USEC`) and the
//! runtime directory. While the tick sends, watchdog pings keep coming;
//! the unit's own `ExecReload` line returns only once the new definitions
//! are live, and they are used from the next step on; SIGTERM mid-tick
//! exits 0 within 10 s; a restart finishes the work, each step sent once.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Kill, received};
use crate::{POOL, drip, log, nurture, scene, sqlite_url, start, wait};

/// Every notification the daemon sent, with when it came.
pub(crate) type Notes = Arc<Mutex<Vec<(Instant, String)>>>;

pub(crate) fn listen(path: &Path) -> Notes {
    let socket = UnixDatagram::bind(path).unwrap();
    let notes: Notes = Arc::default();
    let keep = notes.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            keep.lock().unwrap().push((Instant::now(), text));
        }
    });
    notes
}

pub(crate) fn said(notes: &Notes, line: &str) -> Vec<Instant> {
    notes.lock().unwrap().iter().filter(|(_, t)| t.lines().any(|l| l == line)).map(|(at, _)| *at).collect()
}

/// The unit's `ExecReload` shell line as systemd runs it: `$$` is a `$`
/// for the shell, `$MAINPID` the daemon.
fn exec_reload(pid: u32) -> String {
    let unit = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nurture.service")).unwrap();
    let line =
        unit.lines().filter_map(|l| l.strip_prefix("ExecReload=/bin/sh -c '")).next().expect("a shell ExecReload");
    line.trim_end_matches('\'').replace("$MAINPID", &pid.to_string()).replace("$$", "$")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_tick_keeps_the_watchdog_fed_reloads_at_the_next_step_and_stops_within_10_s() {
    let leads = 30;
    let scene = scene(leads, "[\"1s\"]", "", 0);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    let url = sqlite_url(dir);
    let limited = drip::config(scene.port, POOL as usize, "[\"1s\"]", "rate_per_second = 1\n");
    std::fs::write(dir.join("nurture.toml"), limited).unwrap();
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());
    let notes = listen(&dir.join("notify.sock"));
    let logfile = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let mut daemon = Kill(
        nurture(dir, &url, &["run"])
            .env("NOTIFY_SOCKET", dir.join("notify.sock"))
            .env("WATCHDOG_USEC", "2000000")
            .env("RUNTIME_DIRECTORY", dir)
            .stderr(Stdio::from(logfile))
            .spawn()
            .unwrap(),
    );
    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 3).await;
    let sending_since = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Pings while the tick sends: never a gap near the 2 s timeout.
    let pings: Vec<Instant> = said(&notes, "WATCHDOG=1").into_iter().filter(|at| *at >= sending_since).collect();
    assert!(pings.len() >= 4, "{} pings in 5 s of sending", pings.len());
    let gaps = pings.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gaps < Duration::from_millis(1800), "a {gaps:?} gap between pings mid-tick");

    // Reload mid-tick through the unit's own ExecReload: it returns once
    // the new definitions are live, and the next messages use them.
    std::fs::write(dir.join("templates/t.txt.hbs"), "Reloaded\nUnsubscribe: {{unsubscribe_url}}\n").unwrap();
    let asked = Instant::now();
    let reload = Command::new("/bin/sh")
        .args(["-c", &exec_reload(daemon.0.id())])
        .env("RUNTIME_DIRECTORY", dir)
        .status()
        .unwrap();
    assert!(reload.success(), "ExecReload failed");
    assert!(log(dir, "daemon").contains("Definitions reloaded."), "ExecReload returned before the reload was live");
    assert!(asked.elapsed() < Duration::from_secs(5), "the reload waited for the tick: {:?}", asked.elapsed());
    assert_eq!(std::fs::read_to_string(dir.join("reloaded")).unwrap().trim(), "ok 1");
    assert!(!said(&notes, "RELOADING=1").is_empty(), "RELOADING=1 on a reload");
    let before = received(inbox).len();
    let seen = inbox.clone();
    wait(dir, "a message with the new template", 10, move || {
        received(&seen).iter().skip(before + POOL as usize).any(|m| m.contains("Reloaded"))
    })
    .await;

    // SIGTERM mid-tick: out within 10 s, cleanly.
    let still_due = leads - received(inbox).len().min(leads);
    assert!(still_due > 5, "the tick was still sending: {still_due} left");
    let asked = Instant::now();
    assert!(drip::stop(&mut daemon.0), "exit 0 on SIGTERM");
    assert!(asked.elapsed() < Duration::from_secs(10), "took {:?} to stop", asked.elapsed());
    assert!(!said(&notes, "STOPPING=1").is_empty(), "STOPPING=1 on SIGTERM");

    // Restarted without the rate limit, it finishes: each step once.
    let fast = drip::config(scene.port, POOL as usize, "[\"1s\"]", "");
    std::fs::write(dir.join("nurture.toml"), fast).unwrap();
    let mut again = start(dir, &url, "again");
    let want = 2 * leads as i64;
    drip::settle(&url, want, Duration::from_secs(60)).await;
    assert!(drip::stop(&mut again.0), "a clean stop");
    let states = drip::assert_ledger(&url, &received(inbox), want, 0).await;
    assert_eq!(states.get("sent"), Some(&want), "nothing lost to the stop: {states:?}");
}
