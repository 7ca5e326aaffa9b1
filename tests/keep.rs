//! Keeping data, end to end with `nurture run` and a real SMTP server
//! (aiosmtpd): backups taken while the daemon sends are whole, pass the
//! integrity check, and a daemon started on one resends nothing recorded in
//! it; a SQLite database copied to PostgreSQL mid-campaign (steps sent,
//! due, retrying, in flight, tasks open) is finished there with every step
//! exactly once.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sqlx::Connection;
use support::drip::{self, nurture, pairs, states};
use support::{Kill, PgDatabase, header, received, smtp_server, wait_for};

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn daemon(dir: &Path, url: &str, log: &str) -> Kill {
    let log = std::fs::File::create(dir.join(log)).unwrap();
    Kill(nurture(dir, url, &["run"]).stderr(Stdio::from(log)).spawn().unwrap())
}

async fn integrity(path: &Path) -> String {
    let mut c = sqlx::SqliteConnection::connect(&sqlite_url(path)).await.unwrap();
    sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut c).await.unwrap()
}

/// (lead, step) of the deliveries in `url` that a daemon must never send
/// again: handed over or in flight.
async fn recorded(url: &str) -> HashSet<(String, String)> {
    let sql = "SELECT l.email, d.step_id FROM deliveries d JOIN leads l ON l.id = d.lead_id \
               WHERE d.state IN ('sent', 'uncertain', 'sending')";
    pairs(url, sql).await.into_iter().collect()
}

#[tokio::test]
async fn backups_taken_while_sending_are_whole_and_a_daemon_on_one_resends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (_server, port) = smtp_server(&inbox, 10);
    let leads = 400;
    drip::project(dir, port, 2, "[\"1s\"]", leads, "");
    let jobs = "[housekeeping]\nbackup = \"*/2 * * * * *\"\nkeep_backups = 2\n";
    let config = std::fs::read_to_string(dir.join("nurture.toml")).unwrap() + jobs;
    std::fs::write(dir.join("nurture.toml"), config).unwrap();
    let url = sqlite_url(&dir.join("var/nurture.db"));
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());
    let run = daemon(dir, &url, "log.json");

    // Two backups by hand while the daemon sends.
    let mut taken = Vec::new();
    for (name, after) in [("b1.db", 50), ("b2.db", 400)] {
        wait_for("sends under way", Duration::from_secs(60), || received(&inbox).len() >= after);
        let out = nurture(dir, &url, &["backup", name]).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("integrity ok"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        taken.push(dir.join(name));
    }
    let want = 2 * leads as i64;
    let s = drip::settle(&url, want, Duration::from_secs(90)).await;
    assert_eq!(drip::finished(&s), want, "{s:?}");
    let backups = dir.join("var/backups");
    wait_for("the backup job", Duration::from_secs(10), || {
        std::fs::read_dir(&backups).map(|d| d.count() >= 2).unwrap_or(false)
    });
    assert!(drip::stop(&mut { run }.0), "the daemon stopped cleanly");
    let status = nurture(dir, &url, &["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let job = &status["housekeeping"][0];
    assert_eq!((job["job"].as_str(), job["ok"].as_bool()), (Some("backup"), Some(true)), "{status}");
    let kept: Vec<_> = std::fs::read_dir(&backups).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(kept.len(), 2, "keep_backups = 2: {kept:?}");
    for b in taken.iter().chain(&kept) {
        assert_eq!(integrity(b).await, "ok", "{}", b.display());
    }
    let in_b1 = recorded(&sqlite_url(&taken[0])).await;
    assert!(!in_b1.is_empty() && in_b1.len() < want as usize, "b1 was taken mid-send: {}", in_b1.len());

    // A daemon on the first backup, as after a restore: it sends what the
    // backup did not record, and nothing it did.
    let restored = dir.join("restored");
    let inbox2 = dir.join("inbox2");
    let (_server2, port2) = smtp_server(&inbox2, 0);
    drip::project(&restored, port2, 2, "[\"1s\"]", 0, "");
    std::fs::create_dir_all(restored.join("var")).unwrap();
    std::fs::copy(&taken[0], restored.join("var/nurture.db")).unwrap();
    let url2 = sqlite_url(&restored.join("var/nurture.db"));
    let run2 = daemon(&restored, &url2, "log.json");
    let s = drip::settle(&url2, want, Duration::from_secs(90)).await;
    assert_eq!(drip::finished(&s), want, "{s:?}");
    assert!(drip::stop(&mut { run2 }.0));
    let again: Vec<(String, String)> = received(&inbox2)
        .iter()
        .map(|m| {
            let to = header(m, "To").unwrap().to_string();
            let step = header(m, "Subject").unwrap().split(' ').next().unwrap().to_string();
            (to, step)
        })
        .collect();
    let resent: Vec<_> = again.iter().filter(|k| in_b1.contains(*k)).collect();
    assert!(resent.is_empty(), "sent again after the restore: {resent:?}");
    assert_eq!(again.len() + in_b1.len(), want as usize, "the rest went out once each");
}

/// The drip campaign with a call task between its two emails, the second
/// email `s2_after` after the task.
fn campaign_with_task(s2_after: &str) -> String {
    let drip = drip::campaign("email", s2_after);
    let (head, s2) = drip.split_at(drip.rfind("[[step]]").unwrap());
    format!(
        "{head}[[step]]\nid = \"call\"\nafter = \"1s\"\ntask = \"Call {{{{lead.email}}}}\"\nassign = \"rep@y.test\"\ndue = \"1d\"\n{s2}"
    )
}

#[tokio::test]
async fn a_sqlite_database_copied_to_postgres_mid_campaign_finishes_every_step_once() {
    let pg = PgDatabase::create("db_copy").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (_server, port) = smtp_server(&inbox, 0);
    let leads = 30;
    // flaky: 451 at first, retried 10 s later; slow: the server holds its
    // message unanswered, so a daemon killed then leaves it in flight.
    drip::project(dir, port, 2, "[\"10s\"]", leads, "flaky1@x.test,new\n");
    std::fs::write(dir.join("campaigns/drip.toml"), campaign_with_task("8s")).unwrap();
    let url = sqlite_url(&dir.join("var/nurture.db"));
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());
    let run = daemon(dir, &url, "log-sqlite.json");
    let tasks = || async {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tasks").fetch_one(&mut c).await.unwrap()
    };
    let start = std::time::Instant::now();
    while tasks().await < 5 {
        assert!(start.elapsed() < Duration::from_secs(20), "no tasks created: {:?}", states(&url).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then a lead whose first message the server holds unanswered.
    std::fs::write(dir.join("slow.csv"), "email,status\nslow1@x.test,new\n").unwrap();
    assert!(nurture(dir, &url, &["leads", "import", "slow.csv"]).status().unwrap().success());
    wait_for("the slow message held", Duration::from_secs(30), || {
        received(&inbox).iter().any(|m| header(m, "To") == Some("slow1@x.test"))
    });
    drop(run); // SIGKILL: the slow send has no outcome
    let before = states(&url).await;
    for state in ["sent", "retrying", "sending"] {
        assert!(before.contains_key(state), "mid-campaign: a step {state}: {before:?}");
    }
    let due_later =
        pairs(&url, "SELECT CAST(COUNT(*) AS TEXT), '' FROM enrolments WHERE active AND due_at IS NOT NULL").await;
    assert_ne!(due_later[0].0, "0", "steps still due");

    let out = nurture(dir, &url, &["db", "copy", "--to", &pg.url]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("every count matches") && said.contains("deliveries"), "{said}");
    let again = nurture(dir, &url, &["db", "copy", "--to", &pg.url]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "a database that is not empty is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let run = daemon(dir, &pg.url, "log-pg.json");
    let want = 3 * (leads + 2) as i64;
    let s = drip::settle(&pg.url, want, Duration::from_secs(90)).await;
    assert_eq!(drip::finished(&s), want, "{s:?}");
    assert!(drip::stop(&mut { run }.0));

    // Over both daemons: every email once, every task once.
    let messages = received(&inbox);
    let counts = drip::counts(&messages);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "received twice: {twice:?}");
    let mut emails: HashMap<&str, usize> = HashMap::new();
    for ((to, subject), _) in counts.iter().filter(|((to, _), _)| to.ends_with("@x.test")) {
        assert!(subject.ends_with(&format!("for {to}")), "{subject}");
        *emails.entry(subject.split(' ').next().unwrap()).or_default() += 1;
    }
    assert_eq!(emails, HashMap::from([("s1", leads + 2), ("s2", leads + 2)]), "each email step once per lead");
    let reminders = messages.iter().filter(|m| header(m, "To") == Some("rep@y.test")).count();
    assert_eq!(reminders, leads + 2, "each task emailed to the rep once");
    let s = states(&pg.url).await;
    assert_eq!(s.get("uncertain"), Some(&1), "the one in flight at the kill, never sent again: {s:?}");
    pg.drop_now().await;
}
