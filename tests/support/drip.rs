//! A two-step drip campaign wired to a real SMTP server, for the crates
//! that run `nurture run` as a process (replicas, faults), and the ledger
//! checks they end with.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use sqlx::{Connection, Row};

use super::header;

const CAMPAIGN: &str = r#"
[audience]
status = ["new"]
[enrol]
cron = "0 0 1 1 *"
[[step]]
id = "s1"
email = "t"
subject = "{{step.id}} for {{lead.email}}"
[[step]]
id = "s2"
after = "1s"
email = "t"
subject = "{{step.id}} for {{lead.email}}"
"#;

/// A project in `dir`: the campaign, a text template, JSON logs, 1 s ticks,
/// a 2 s lease, `pool` SMTP connections, `retry` as a TOML list, and
/// `leads` plus `extra` (CSV rows) in `leads.csv`.
pub fn project(dir: &Path, smtp_port: u16, pool: usize, retry: &str, leads: usize, extra: &str) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("campaigns/drip.toml"), CAMPAIGN).unwrap();
    std::fs::write(dir.join("templates/t.txt.hbs"), "Hi\nUnsubscribe: {{unsubscribe_url}}\n").unwrap();
    std::fs::write(
        dir.join("nurture.toml"),
        format!(
            "log_format = \"json\"\n[database]\nlease = \"2s\"\n[schedule]\ntick = \"1s\"\n\
             [mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\npool_size = {pool}\n\
             postal_address = \"1 Main St\"\n[policy]\nmax_emails = 10\nper = \"1m\"\nmin_gap = \"0s\"\n\
             retry = {retry}\n[http]\nbind = \"\"\npublic_url = \"https://nurture.example\"\n"
        ),
    )
    .unwrap();
    let mut csv = String::from("email,status\n");
    csv += extra;
    for i in 0..leads {
        csv += &format!("lead{i}@x.test,new\n");
    }
    std::fs::write(dir.join("leads.csv"), csv).unwrap();
}

/// `nurture --config nurture.toml ARGS` in `dir`, on the database `url`.
pub fn nurture(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nurture"));
    c.args(["--config", "nurture.toml"]).args(args).current_dir(dir).env("NURTURE_DATABASE_URL", url);
    c
}

/// SIGTERM, then whether it exited 0.
pub fn stop(child: &mut std::process::Child) -> bool {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    child.wait().unwrap().success()
}

/// (recipient, subject) of each message, with how often each came.
pub fn counts(messages: &[String]) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for m in messages {
        let key = (header(m, "To").unwrap().to_string(), header(m, "Subject").unwrap().to_string());
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Delivery states in a PostgreSQL database, counted.
pub async fn states(url: &str) -> HashMap<String, i64> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let rows =
        sqlx::query("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state").fetch_all(&mut c).await.unwrap();
    rows.iter().map(|r| (r.get::<String, _>("state"), r.get::<i64, _>("n"))).collect()
}

/// Steps with a final state, from [`states`].
pub fn finished(states: &HashMap<String, i64>) -> i64 {
    states.iter().filter(|(k, _)| !matches!(k.as_str(), "sending" | "retrying")).map(|(_, n)| n).sum()
}

/// Every `sent` delivery was received exactly once.
pub async fn every_sent_received_once(url: &str, counts: &HashMap<(String, String), usize>) {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let sql = "SELECT l.email, d.step_id FROM deliveries d JOIN leads l ON l.id = d.lead_id WHERE d.state = 'sent'";
    for r in &sqlx::query(sql).fetch_all(&mut c).await.unwrap() {
        let (email, step): (String, String) = (r.get(0), r.get(1));
        let subject = format!("{step} for {email}");
        assert_eq!(counts.get(&(email.clone(), subject)), Some(&1), "{email} {step} is sent but was not received once");
    }
}
