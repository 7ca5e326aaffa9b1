//! The outbox folder cannot be written (here its path is a file; a full
//! disk or a read-only mount fail the same way): each send is a temporary
//! failure, logged with the path and the reason, and once the folder is
//! usable again every message is written once.

use std::time::Duration;

use crate::{drip, log, nurture, project, sqlite_url, start, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_outbox_is_retried_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    project(&dir, 1, 10, "[\"1s\", \"2s\", \"2s\", \"2s\", \"2s\"]", "");
    let config = std::fs::read_to_string(dir.join("nurture.toml")).unwrap();
    let config = config.replace("transport = \"smtp\"", "transport = \"outbox\"\noutbox_dir = \"out\"");
    std::fs::write(dir.join("nurture.toml"), config).unwrap();
    std::fs::write(dir.join("out"), "not a folder").unwrap();
    let url = sqlite_url(&dir);
    let mut daemon = start(&dir, &url, "daemon");
    assert!(nurture(&dir, &url, &["leads", "import", "leads.csv"]).output().unwrap().status.success());

    let d = dir.clone();
    wait(&dir, "a failed write", 20, move || log(&d, "daemon").contains("Temporary failure; will retry.")).await;
    let text = log(&dir, "daemon");
    let line = text.lines().find(|l| l.contains("Temporary failure")).unwrap();
    assert!(line.contains("outbox") && line.contains("out"), "the error names the outbox: {line}");
    std::fs::remove_file(dir.join("out")).unwrap();

    drip::settle(&url, 20, Duration::from_secs(30)).await;
    assert!(drip::stop(&mut daemon.0));
    let files: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let states = drip::assert_ledger(&url, &files, 20, 0).await;
    assert_eq!(states.get("sent"), Some(&20), "{states:?}");
}
