//! `nurture run` against a real SMTP server process (aiosmtpd, from
//! Debian's python3-aiosmtpd, which scripts/test installs), on SQLite and on
//! PostgreSQL: every (lead, step) delivered exactly once, with the headers
//! README's *Behaviour decisions* lists; 4xx retried; 5xx bounced and
//! suppressed.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Kill, free_port, header, received};

const LEADS: &str = "email,first_name,status\nok@x.test,Ok,new\nflaky@x.test,Flaky,new\nbounce@x.test,Bounce,new\n";

/// A project folder wired to the SMTP server on `port`.
fn project(dir: &Path, port: u16, leads: &str) {
    project_with(dir, port, leads, "2s", None);
}

/// `s2_after`: the second step's delay; `http`: serve links on this port.
fn project_with(dir: &Path, port: u16, leads: &str, s2_after: &str, http: Option<u16>) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("campaigns/fast.toml"), support::drip::campaign("first_name", s2_after)).unwrap();
    // A line of one dot would end the message early were it not stuffed.
    let text = "Hi {{lead.first_name}}\n.\n.dotted line\nUnsubscribe: {{unsubscribe_url}}\n";
    std::fs::write(dir.join("templates/t.txt.hbs"), text).unwrap();
    std::fs::write(
        dir.join("templates/t.html.hbs"),
        "<p>Hi {{lead.first_name}}</p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a>",
    )
    .unwrap();
    std::fs::write(
        dir.join("nurture.toml"),
        format!(
            "[database]\nlease = \"2s\"\n[schedule]\ntick = \"1s\"\n[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}\"\n\
             from = \"Sales <sales@example.com>\"\npostal_address = \"1 Main St\"\n\
             [policy]\nmax_emails = 10\nper = \"1m\"\nmin_gap = \"0s\"\nretry = [\"1s\"]\n[http]\nbind = \"{bind}\"\n\
             public_url = \"{public}\"\n",
            bind = http.map(|p| format!("127.0.0.1:{p}")).unwrap_or_default(),
            public = http.map_or("https://nurture.example".to_string(), |p| format!("http://127.0.0.1:{p}")),
        ),
    )
    .unwrap();
    std::fs::write(dir.join("leads.csv"), leads).unwrap();
}

fn nurture(dir: &Path, database_url: &Option<String>, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nurture"));
    c.args(["--config", "nurture.toml"]).args(args).current_dir(dir);
    match database_url {
        Some(u) => c.env("NURTURE_DATABASE_URL", u),
        None => c.env_remove("NURTURE_DATABASE_URL"),
    };
    c
}

fn status(dir: &Path, database_url: &Option<String>) -> serde_json::Value {
    let out = nurture(dir, database_url, &["status", "--json"]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    support::wait_for(what, Duration::from_secs(40), done)
}

async fn delivers_exactly_once_with_retries_and_bounces(database_url: Option<String>) {
    delivers_exactly_once(database_url, true).await;
}

/// The same against a server that does not offer PIPELINING: one command
/// at a time, the same outcomes.
async fn delivers_exactly_once_one_command_at_a_time(database_url: Option<String>) {
    delivers_exactly_once(database_url, false).await;
}

async fn delivers_exactly_once(database_url: Option<String>, pipelining: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    if !pipelining {
        std::fs::write(dir.join("inbox.no-pipelining"), "").unwrap();
    }
    let (_server, port) = support::smtp_server(&inbox, 0);
    project(dir, port, LEADS);
    let db = &database_url;
    assert!(nurture(dir, db, &["leads", "import", "leads.csv"]).output().unwrap().status.success());
    let daemon = Kill(nurture(dir, db, &["run"]).stderr(Stdio::null()).spawn().unwrap());
    // Once every enrolment has ended nothing more can be sent.
    wait_for("every enrolment to end", || status(dir, db)["active_enrolments"] == 0);
    drop(daemon);

    let mail = received(&inbox);
    let mut seen: Vec<(String, String)> = mail
        .iter()
        .map(|m| (header(m, "To").unwrap().to_string(), header(m, "Subject").unwrap().to_string()))
        .collect();
    seen.sort();
    let want = [
        ("flaky@x.test", "s1 for Flaky"),
        ("flaky@x.test", "s2 for Flaky"),
        ("ok@x.test", "s1 for Ok"),
        ("ok@x.test", "s2 for Ok"),
    ];
    assert_eq!(seen, want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec(), "each (lead, step) exactly once");
    for m in &mail {
        let unsub = header(m, "List-Unsubscribe").expect("List-Unsubscribe");
        assert!(unsub.starts_with("<https://nurture.example/u/"), "{unsub}");
        assert_eq!(header(m, "List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
        assert!(header(m, "Message-ID").is_some_and(|id| id.ends_with("@example.com>")));
        assert!(m.contains("multipart/alternative") && m.contains("text/plain") && m.contains("text/html"));
        assert!(m.contains("\n.\r\n.dotted line\r\n") || m.contains("\n.\n.dotted line\n"), "dots lost: {m}");
    }
    let ids: std::collections::BTreeSet<_> = mail.iter().map(|m| header(m, "Message-ID").unwrap()).collect();
    assert_eq!(ids.len(), mail.len(), "unique Message-IDs");

    let status = status(dir, db);
    assert_eq!(status["total"]["sent"], 4, "{status}");
    assert_eq!(status["total"]["bounced"], 1, "{status}");
    assert_eq!(status["total"]["cancelled"], 1, "the bounced lead's second step: {status}");
    let suppress_again = nurture(dir, db, &["suppress", "bounce@x.test"]).output().unwrap();
    assert!(String::from_utf8_lossy(&suppress_again.stdout).contains("already suppressed"));
    // Where offered, MAIL, RCPT and DATA went in one write (the server
    // counts a MAIL that arrived with the commands after it); the refused
    // RCPTs above (451, 550) were answered within such groups.
    let pipelined: u32 = std::fs::read_to_string(dir.join("inbox.pipelined")).map_or(0, |n| n.parse().unwrap());
    if pipelining {
        assert!(pipelined >= 6, "every transaction pipelined: {pipelined}");
    } else {
        assert_eq!(pipelined, 0, "not offered, not used");
    }
}

/// Killed (-9) between handing a message to the server and hearing back:
/// after a restart the step is `uncertain` and is not sent again.
async fn a_crash_mid_send_is_recorded_uncertain_never_resent(database_url: Option<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (_server, port) = support::smtp_server(&inbox, 0);
    project(dir, port, "email,first_name,status\nslow@x.test,Slow,new\n");
    let db = &database_url;
    assert!(nurture(dir, db, &["leads", "import", "leads.csv"]).output().unwrap().status.success());
    let mut first = nurture(dir, db, &["run"]).stderr(Stdio::null()).spawn().unwrap();
    wait_for("the server to hold the message", || received(&inbox).len() == 1);
    first.kill().unwrap(); // SIGKILL: no chance to record the outcome
    first.wait().unwrap();

    let second = Kill(nurture(dir, db, &["run"]).stderr(Stdio::null()).spawn().unwrap());
    wait_for("the restart to settle the attempt", || status(dir, db)["total"]["uncertain"] == 1);
    // s2 follows two seconds later: it goes out (and waits on the slow
    // server), proving the enrolment moved on; s1 is not repeated.
    wait_for("the next step", || received(&inbox).len() == 2);
    drop(second);
    let subjects: Vec<String> = received(&inbox).iter().map(|m| header(m, "Subject").unwrap().to_string()).collect();
    assert_eq!(subjects, ["s1 for Slow", "s2 for Slow"]);
}

/// The one-click unsubscribe link in a received message ends the lead's
/// enrolment (its next step is cancelled, never sent); forged tokens change
/// nothing.
async fn one_click_unsubscribe_from_a_received_message_stops_the_campaign(database_url: Option<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (_server, port) = support::smtp_server(&inbox, 0);
    let web = free_port();
    project_with(dir, port, "email,first_name,status\nstop@x.test,Stop,new\n", "1h", Some(web));
    let db = &database_url;
    assert!(nurture(dir, db, &["leads", "import", "leads.csv"]).output().unwrap().status.success());
    let _daemon = Kill(nurture(dir, db, &["run"]).stderr(Stdio::null()).spawn().unwrap());
    wait_for("the first message", || received(&inbox).len() == 1);
    let message = &received(&inbox)[0];
    let link = header(message, "List-Unsubscribe").unwrap().trim_matches(['<', '>']).to_string();
    let path = link.strip_prefix(&format!("http://127.0.0.1:{web}")).unwrap().to_string();
    let forged = format!("{}x", &path);
    assert_eq!(post(web, &forged), 404);
    assert_eq!(status(dir, db)["active_enrolments"], 1, "a forged token changes nothing");
    assert_eq!(post(web, &path), 200);
    let after = status(dir, db);
    assert_eq!(after["active_enrolments"], 0, "{after}");
    assert_eq!(after["total"]["cancelled"], 1, "s2 will never be sent: {after}");
}

fn post(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let body = "List-Unsubscribe=One-Click";
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Run `scenario` on SQLite, then on a fresh PostgreSQL database.
macro_rules! both {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                super::$scenario(None).await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = support::PgDatabase::create(stringify!($scenario)).await;
                super::$scenario(Some(db.url.clone())).await;
                db.drop_now().await;
            }
        }
    };
}

both!(delivers_exactly_once_with_retries_and_bounces);
both!(delivers_exactly_once_one_command_at_a_time);
both!(a_crash_mid_send_is_recorded_uncertain_never_resent);
both!(one_click_unsubscribe_from_a_received_message_stops_the_campaign);
