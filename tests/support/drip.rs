//! A two-step drip campaign wired to a real SMTP server, for the crates
//! that run `nurture run` as a process (replicas, faults), and the ledger
//! checks they end with.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use sqlx::Connection;

use super::header;

/// Two email steps, `s2` following `s1` after `s2_after`, subjects
/// "{step id} for {the lead's `subject_var`}" (`email`, `first_name`):
/// tests tell the messages apart by that subject.
pub fn campaign(subject_var: &str, s2_after: &str) -> String {
    let step = |id: &str, after: &str| {
        format!(
            "[[step]]\nid = \"{id}\"\n{after}email = \"t\"\nsubject = \"{{{{step.id}}}} for {{{{lead.{subject_var}}}}}\"\n"
        )
    };
    let after = format!("after = \"{s2_after}\"\n");
    format!("[audience]\nstatus = [\"new\"]\n[enrol]\ncron = \"0 0 1 1 *\"\n{}{}", step("s1", ""), step("s2", &after))
}

/// A project in `dir`: the campaign, a text template, JSON logs, 1 s ticks,
/// a 2 s lease, `pool` SMTP connections, `retry` as a TOML list, and
/// `leads` plus `extra` (CSV rows) in `leads.csv`.
pub fn project(dir: &Path, smtp_port: u16, pool: usize, retry: &str, leads: usize, extra: &str) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("campaigns/drip.toml"), campaign("email", "1s")).unwrap();
    std::fs::write(dir.join("templates/t.txt.hbs"), "Hi\nUnsubscribe: {{unsubscribe_url}}\n").unwrap();
    std::fs::write(dir.join("nurture.toml"), config(smtp_port, pool, retry, "")).unwrap();
    let mut csv = String::from("email,status\n");
    csv += extra;
    for i in 0..leads {
        csv += &format!("lead{i}@x.test,new\n");
    }
    std::fs::write(dir.join("leads.csv"), csv).unwrap();
}

/// The project's `nurture.toml`: JSON logs, 1 s ticks, a 2 s lease, `pool`
/// SMTP connections to `smtp_port`, `retry` as a TOML list, no HTTP, and
/// `mail_extra` (lines of `[mail]` keys) added to the mail section.
pub fn config(smtp_port: u16, pool: usize, retry: &str, mail_extra: &str) -> String {
    config_serving(smtp_port, pool, retry, mail_extra, None)
}

/// [`config`], with HTTP on 127.0.0.1:`http` and the API token file
/// `token` when given.
pub fn config_serving(smtp_port: u16, pool: usize, retry: &str, mail_extra: &str, http: Option<u16>) -> String {
    let http = match http {
        Some(port) => format!("bind = \"127.0.0.1:{port}\"\napi_token_file = \"token\"\n"),
        None => "bind = \"\"\n".to_string(),
    };
    format!(
        "log_format = \"json\"\n[database]\nlease = \"2s\"\n[schedule]\ntick = \"1s\"\n\
         [mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\npool_size = {pool}\n\
         postal_address = \"1 Main St\"\n{mail_extra}[policy]\nmax_emails = 10\nper = \"1m\"\nmin_gap = \"0s\"\n\
         retry = {retry}\n[http]\n{http}public_url = \"https://nurture.example\"\n"
    )
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

/// Pairs of text columns from `sql`, on either backend.
pub async fn pairs(url: &str, sql: &'static str) -> Vec<(String, String)> {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    }
}

/// Delivery states, counted.
pub async fn states(url: &str) -> HashMap<String, i64> {
    let rows = pairs(url, "SELECT state, CAST(COUNT(*) AS TEXT) FROM deliveries GROUP BY state").await;
    rows.into_iter().map(|(state, n)| (state, n.parse().unwrap())).collect()
}

/// Steps with a final state, from [`states`].
pub fn finished(states: &HashMap<String, i64>) -> i64 {
    states.iter().filter(|(k, _)| !matches!(k.as_str(), "sending" | "retrying")).map(|(_, n)| n).sum()
}

/// Poll until `want` steps have a final state (or `limit` passes); the
/// states last seen.
pub async fn settle(url: &str, want: i64, limit: std::time::Duration) -> HashMap<String, i64> {
    let start = std::time::Instant::now();
    loop {
        let s = states(url).await;
        if finished(&s) >= want || start.elapsed() > limit {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The ledger every fault case ends with: each of the `want` due steps has
/// exactly one final state; no message was received twice; every `sent`
/// step was received exactly once; whatever was received is `sent` or
/// `uncertain` (never a step recorded as failed or still pending); and
/// `uncertain` is at most `in_flight`, the sends that were under way at the
/// fault. Returns the states.
pub async fn assert_ledger(url: &str, messages: &[String], want: i64, in_flight: i64) -> HashMap<String, i64> {
    let states = states(url).await;
    assert_eq!(finished(&states), want, "every due step has one final state: {states:?}");
    assert_eq!(states.values().sum::<i64>(), want, "nothing left pending: {states:?}");
    let uncertain = states.get("uncertain").copied().unwrap_or(0);
    assert!(uncertain <= in_flight, "uncertain {uncertain} beyond the {in_flight} sends in flight: {states:?}");
    let counts = counts(messages);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "received twice: {twice:?}");
    let sql = "SELECT l.email, d.step_id FROM deliveries d JOIN leads l ON l.id = d.lead_id WHERE d.state = 'sent'";
    let sent = pairs(url, sql).await;
    for (email, step) in &sent {
        let key = (email.clone(), format!("{step} for {email}"));
        assert_eq!(counts.get(&key), Some(&1), "{email} {step} is sent but was not received once");
    }
    let sql = "SELECT l.email, d.step_id FROM deliveries d JOIN leads l ON l.id = d.lead_id \
               WHERE d.state IN ('sent', 'uncertain')";
    let may: std::collections::HashSet<_> =
        pairs(url, sql).await.into_iter().map(|(email, step)| (email.clone(), format!("{step} for {email}"))).collect();
    for key in counts.keys() {
        assert!(may.contains(key), "{key:?} was received but is recorded neither sent nor uncertain: {states:?}");
    }
    states
}
