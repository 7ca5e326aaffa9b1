//! SIGHUP mid-run with the campaign and its template broken on disk: the
//! reload is refused and logged with the file, the old definitions keep
//! sending, and the ledger holds.

use std::process::Command;
use std::time::Duration;

use crate::support::received;
use crate::{POOL, drip, log, nurture, scene, sqlite_url, start, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_broken_files_keeps_the_old_definitions_sending() {
    let leads = 30;
    let scene = scene(leads, "[\"1s\"]", "", 100);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    let url = sqlite_url(dir);
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());
    let mut daemon = start(dir, &url, "daemon");
    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 5).await;

    std::fs::write(dir.join("campaigns/drip.toml"), "[audience]\nstatus = [\"new\"\n[[step]]\n").unwrap();
    std::fs::write(dir.join("templates/t.txt.hbs"), "Hi {{#if}}\n").unwrap();
    let hup = Command::new("kill").args(["-HUP", &daemon.0.id().to_string()]).status().unwrap();
    assert!(hup.success());
    let d = dir.to_path_buf();
    wait(dir, "the refused reload", 20, move || log(&d, "daemon").contains("Reload failed")).await;
    let logs = log(dir, "daemon");
    assert!(logs.contains("drip.toml:"), "the reload error names the campaign file");

    let want = 2 * leads as i64;
    drip::settle(&url, want, Duration::from_secs(60)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon is still running");
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let states = drip::assert_ledger(&url, &received(inbox), want, POOL).await;
    assert_eq!(states.get("sent"), Some(&want), "the old definitions sent every step: {states:?}");
}
