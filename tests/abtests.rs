//! A/B tests end to end: the real daemon sends two variants through
//! aiosmtpd, replies come back through a private dovecot to the leads sent
//! variant b only; once the emails are a day old (the test moves the
//! ledger's clock back two days, as if it had waited) the next daemon
//! declares b the winner, later leads all get b, and `report` and
//! `campaigns list` show it. Also the decision rule's calibration
//! (`calibration.rs`).

#[path = "support/mod.rs"]
mod support;

#[path = "abtests/calibration.rs"]
mod calibration;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sqlx::{Connection, Row};
use support::dovecot::Dovecot;
use support::drip::{self, nurture};
use support::{Kill, header, received, smtp_server, wait_for};

const CAMPAIGN: &str = "[audience]\nstatus = [\"new\"]\n[enrol]\ncron = \"0 0 1 1 *\"\n\
    [[step]]\nid = \"value\"\nemail = \"t\"\nsubject = \"Plain for {{lead.email}}\"\n\
    [[step.variant]]\nid = \"a\"\nsubject = \"A for {{lead.email}}\"\n\
    [[step.variant]]\nid = \"b\"\nsubject = \"B for {{lead.email}}\"\n\
    [step.test]\nmetric = \"replied\"\nmin_sample = 10\n";

fn project(dir: &Path, smtp_port: u16, imap: &Dovecot) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("campaigns/value.toml"), CAMPAIGN).unwrap();
    std::fs::write(dir.join("templates/t.txt.hbs"), "Hi\nUnsubscribe: {{unsubscribe_url}}\n").unwrap();
    let inbound = format!(
        "[inbound]\nimap_url = \"{}\"\npassword_file = \"{}\"\npoll = \"1s\"\n",
        imap.url(),
        imap.password_file().display()
    );
    std::fs::write(dir.join("nurture.toml"), drip::config(smtp_port, 2, "[\"1s\"]", "") + &inbound).unwrap();
}

fn leads(dir: &Path, file: &str, prefix: &str, n: usize) {
    let rows: String = (0..n).map(|i| format!("{prefix}{i}@x.test,new\n")).collect();
    std::fs::write(dir.join(file), format!("email,status\n{rows}")).unwrap();
}

fn start(dir: &Path, url: &str, name: &str) -> Kill {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Kill(nurture(dir, url, &["run"]).stdout(Stdio::null()).stderr(Stdio::from(log)).spawn().unwrap())
}

fn run(dir: &Path, url: &str, args: &[&str]) -> String {
    let out = nurture(dir, url, args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// (recipient, subject) of every message received.
fn sent(inbox: &Path) -> Vec<(String, String)> {
    received(inbox)
        .iter()
        .filter_map(|m| Some((header(m, "To")?.trim().to_string(), header(m, "Subject")?.trim().to_string())))
        .collect()
}

async fn scalar(url: &str, sql: &str) -> i64 {
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut c).await.unwrap()
}

/// Every time in `column` of `table` moved two days back, through sqlx so
/// the stored form stays nurture's.
async fn age(url: &str, table: &str, column: &str) {
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id, {column} FROM {table}"))).fetch_all(&mut c).await.unwrap();
    for r in rows {
        let (id, at): (i64, chrono::DateTime<chrono::Utc>) = (r.get(0), r.get(1));
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(at - chrono::TimeDelta::days(2))
            .bind(id)
            .execute(&mut c)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_through_imap_to_one_variant_make_it_win() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, inbox) = (tmp.path(), tmp.path().join("inbox"));
    let (_smtp, smtp_port) = smtp_server(&inbox, 0);
    let imap = Dovecot::start();
    project(dir, smtp_port, &imap);
    let url = format!("sqlite://{}", dir.join("n.db").display());
    leads(dir, "leads.csv", "lead", 40);
    run(dir, &url, &["leads", "import", "leads.csv"]);
    let mut daemon = start(dir, &url, "first");
    let first = inbox.clone();
    wait_for("the 40 first emails", Duration::from_secs(40), || sent(&first).len() >= 40);
    let to_b: Vec<String> =
        received(&inbox).into_iter().filter(|m| header(m, "Subject").is_some_and(|s| s.starts_with("B for"))).collect();
    assert!(to_b.len() >= 10 && to_b.len() <= 30, "{} of 40 sent b", to_b.len());
    let replies: Vec<String> = to_b
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "From: {}\nTo: sales@example.com\nSubject: Re: {}\nMessage-ID: <r{i}@x.test>\nIn-Reply-To: {}\n\
                 Date: Wed, 2 Dec 2026 10:00:00 +0000\n\nTell me more.\n",
                header(m, "To").unwrap().trim(),
                header(m, "Subject").unwrap().trim(),
                header(m, "Message-ID").unwrap().trim()
            )
        })
        .collect();
    imap.append(&replies).await;
    let n = to_b.len() as i64;
    for _ in 0..60 {
        if scalar(&url, "SELECT COUNT(*) FROM inbound WHERE kind = 'reply' AND state = 'done'").await == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM inbound WHERE kind = 'reply' AND state = 'done'").await, n);
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM step_tests WHERE winner IS NOT NULL").await, 0, "not before a day");
    assert!(drip::stop(&mut daemon.0), "a clean stop");

    // As if two days had passed: the emails are old enough to be counted.
    age(&url, "deliveries", "updated_at").await;
    age(&url, "inbound", "received_at").await;
    let mut daemon = start(dir, &url, "second");
    for _ in 0..60 {
        if scalar(&url, "SELECT COUNT(*) FROM step_tests WHERE winner = 'b'").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = std::fs::read_to_string(dir.join("second.log")).unwrap();
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM step_tests WHERE winner = 'b'").await, 1, "{log}");

    leads(dir, "later.csv", "later", 12);
    run(dir, &url, &["leads", "import", "later.csv"]);
    let later = inbox.clone();
    wait_for("the later leads' emails", Duration::from_secs(30), || {
        sent(&later).iter().filter(|(to, _)| to.starts_with("later")).count() >= 12
    });
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let log = std::fs::read_to_string(dir.join("second.log")).unwrap();
    assert!(log.contains("A/B test won"), "{log}");
    for (to, subject) in sent(&inbox).into_iter().filter(|(to, _)| to.starts_with("later")) {
        assert_eq!(subject, format!("B for {to}"), "every later lead gets the winner");
    }
    let report = run(dir, &url, &["report"]);
    assert!(report.contains("step value: test by replied, 10 leads each, confidence 0.95; winner b since"), "{report}");
    assert!(report.contains("b (winner)"), "{report}");
    let list = run(dir, &url, &["campaigns", "list"]);
    assert!(list.contains("step value: variants a, b;") && list.contains("winner b since"), "{list}");
}
