//! The IMAP mailbox with real servers: `nurture run` sends through
//! aiosmtpd and reads a private Debian dovecot. A reply that comes back
//! stops the next step and reaches the owner; machine mail moves to the
//! processed folder while replies stay in the inbox, flagged handled; a
//! refused login (fixed by a new password file, no restart) and the IMAP
//! server going away for 20 s are states the daemon reports while it keeps
//! sending, then catches up; a SIGKILL in the middle of a batch of
//! inbound mail loses and repeats nothing.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::dovecot::{Dovecot, Held};
use support::drip::{self, nurture};
use support::{Kill, free_port, header, received, request, smtp_server, wait_for};

const OWNER: &str = "rep@sales.test";

/// Two steps, `s2` `after` `s1`; the owner is told of replies.
fn project(dir: &Path, smtp_port: u16, imap: &Dovecot, after: &str, leads: &[&str], http: Option<u16>) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("campaigns/drip.toml"), drip::campaign("email", after)).unwrap();
    std::fs::write(dir.join("templates/t.txt.hbs"), "Hi\nUnsubscribe: {{unsubscribe_url}}\n").unwrap();
    let inbound = format!(
        "[inbound]\nimap_url = \"{}\"\npassword_file = \"{}\"\npoll = \"2s\"\n",
        imap.url(),
        imap.password_file().display()
    );
    let config = drip::config_serving(smtp_port, 2, "[\"1s\"]", "", http) + &inbound;
    std::fs::write(dir.join("nurture.toml"), config).unwrap();
    std::fs::write(dir.join("token"), "t0ken\n").unwrap();
    let mut csv = String::from("email,first_name,owner,status\n");
    for l in leads {
        csv += &format!("{l},{},{OWNER},new\n", l.split('@').next().unwrap());
    }
    std::fs::write(dir.join("leads.csv"), csv).unwrap();
}

fn start(dir: &Path, url: &str, name: &str) -> Kill {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Kill(nurture(dir, url, &["run"]).stderr(Stdio::from(log)).spawn().unwrap())
}

/// [`wait_for`], failing with the daemons' logs in `dir`.
fn wait(dir: &Path, what: &str, secs: u64, done: impl FnMut() -> bool) {
    let waited =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait_for(what, Duration::from_secs(secs), done)));
    if waited.is_err() {
        let mut logs = String::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|x| x == "log") {
                logs += &format!("--- {}\n{}", entry.path().display(), std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        panic!("timed out waiting for {what}\n{logs}");
    }
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("n.db").display())
}

fn import(dir: &Path, url: &str) {
    assert!(nurture(dir, url, &["leads", "import", "leads.csv"]).status().unwrap().success());
}

/// The message `to` received with `subject`, if any.
fn message(inbox: &Path, to: &str, subject: &str) -> Option<String> {
    received(inbox)
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains(to)) && header(m, "Subject") == Some(subject))
}

fn reply(from: &str, id: &str, in_reply_to: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: sales@example.com\nSubject: Re: s1 for {from}\nMessage-ID: {id}\nIn-Reply-To: {in_reply_to}\n\
         Date: Wed, 2 Dec 2026 10:00:00 +0000\n\n{body}\n\nOn Tue, 1 Dec 2026, Sales wrote:\n> Hi\n"
    )
}

fn auto_reply(from: &str, id: &str, in_reply_to: &str) -> String {
    format!(
        "From: {from}\nTo: sales@example.com\nSubject: Out of Office: s1 for {from}\nMessage-ID: {id}\n\
         In-Reply-To: {in_reply_to}\nAuto-Submitted: auto-replied\nDate: Wed, 2 Dec 2026 10:00:00 +0000\n\n\
         I am out of the office with limited access to email.\n"
    )
}

fn bounce(to: &str, id: &str, original_id: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.test (Mail Delivery System)\nTo: sales@example.com\nSubject: Undelivered Mail Returned to Sender\n\
         Message-ID: {id}\nDate: Wed, 2 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\n\
         Content-Type: text/plain\n\nI'm sorry to have to inform you that your message could not be delivered.\n\n\
         <{to}>: host mx.test said: 550 5.1.1 <{to}>: Recipient address rejected: User unknown\n\n--B\n\
         Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\nFinal-Recipient: rfc822; {to}\n\
         Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--B\n\
         Content-Type: text/rfc822-headers\n\nTo: {to}\nMessage-ID: {original_id}\n\n--B--\n"
    )
}

fn ids(held: &[Held]) -> Vec<&str> {
    let mut ids: Vec<&str> = held.iter().map(|h| h.message_id.as_str()).collect();
    ids.sort();
    ids
}

fn flagged(h: &Held) -> bool {
    h.flags.iter().any(|f| f.contains("NurtureHandled"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_through_imap_stops_the_next_step_and_machine_mail_is_filed() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, inbox) = (tmp.path(), tmp.path().join("inbox"));
    let (_smtp, smtp_port) = smtp_server(&inbox, 0);
    let imap = Dovecot::start();
    let leads = ["ana@x.test", "ben@x.test", "cy@x.test", "dee@x.test"];
    project(dir, smtp_port, &imap, "12s", &leads, None);
    let url = sqlite_url(dir);
    import(dir, &url);
    let mut daemon = start(dir, &url, "run");
    let first = inbox.clone();
    wait(dir, "the first emails", 30, || leads.iter().all(|l| message(&first, l, &format!("s1 for {l}")).is_some()));
    let id_of =
        |l: &str| header(&message(&inbox, l, &format!("s1 for {l}")).unwrap(), "Message-ID").unwrap().to_string();
    let mail = [
        reply("ana@x.test", "<r1@x.test>", &id_of("ana@x.test"), "Interesting, call me Tuesday."),
        bounce("ben@x.test", "<b1@mx.test>", &id_of("ben@x.test")),
        auto_reply("cy@x.test", "<o1@x.test>", &id_of("cy@x.test")),
        "From: Stranger <someone@else.test>\nTo: sales@example.com\nSubject: Lunch?\nMessage-ID: <s1@else.test>\n\nHungry?\n"
            .to_string(),
    ];
    imap.append(&mail).await;

    let notices = inbox.clone();
    wait(dir, "the owner's notice", 30, || message(&notices, OWNER, "ana replied to 's1 for ana@x.test'").is_some());
    let notice = message(&inbox, OWNER, "ana replied to 's1 for ana@x.test'").unwrap();
    assert!(notice.contains("> Interesting, call me Tuesday.") && !notice.contains("> Hi"), "{notice}");
    // The control lead gets its second step: the others would have too.
    let second = inbox.clone();
    wait(dir, "dee's second step", 40, || message(&second, "dee@x.test", "s2 for dee@x.test").is_some());
    for l in ["ana@x.test", "ben@x.test", "cy@x.test"] {
        assert!(message(&inbox, l, &format!("s2 for {l}")).is_none(), "{l} got the next step");
    }
    assert!(drip::stop(&mut daemon.0), "a clean stop");

    let (kept, filed) = (imap.folder("INBOX").await, imap.folder("nurture/processed").await);
    assert_eq!(ids(&kept), ["<r1@x.test>", "<s1@else.test>"], "replies and unmatched mail stay in the inbox");
    assert_eq!(ids(&filed), ["<b1@mx.test>", "<o1@x.test>"], "machine mail is filed");
    let reply = kept.iter().find(|h| h.message_id == "<r1@x.test>").unwrap();
    assert!(
        flagged(reply) && !reply.flags.iter().any(|f| f == "Seen"),
        "flagged handled, still unread: {:?}",
        reply.flags
    );
    let stranger = kept.iter().find(|h| h.message_id == "<s1@else.test>").unwrap();
    assert!(!flagged(stranger), "unmatched mail is left alone: {:?}", stranger.flags);
    let suppressed = drip::pairs(&url, "SELECT email, reason FROM suppressions").await;
    assert!(suppressed.iter().any(|(e, _)| e == "ben@x.test"), "the hard bounce suppresses: {suppressed:?}");
    let kinds = drip::pairs(&url, "SELECT message_key, kind FROM inbound ORDER BY message_key").await;
    assert_eq!(kinds.len(), 4, "each message handled once: {kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_and_the_imap_server_away_for_20_s_are_reported_while_sending_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, inbox) = (tmp.path(), tmp.path().join("inbox"));
    let (_smtp, smtp_port) = smtp_server(&inbox, 0);
    let imap = Dovecot::start();
    let http = free_port();
    project(dir, smtp_port, &imap, "15s", &["ana@x.test", "ben@x.test"], Some(http));
    let url = sqlite_url(dir);
    import(dir, &url);
    // A wrong password first: a state to see, then fixed without a restart.
    std::fs::write(imap.dir().join("imap-password"), "wrong\n").unwrap();
    let mut daemon = start(dir, &url, "run");
    wait(dir, "the login refusal", 20, || {
        let (_, health) = request(http, "GET", "/healthz", "", "");
        health.contains("imap: unavailable") && health.contains("check inbound.password_file")
    });
    imap.password_file();
    wait(dir, "the mailbox", 20, || request(http, "GET", "/healthz", "", "").1.contains("imap: ok"));

    imap.down();
    let away = std::time::Instant::now();
    wait(dir, "the outage to show", 20, || request(http, "GET", "/healthz", "", "").1.contains("imap: unavailable"));
    let (code, health) = request(http, "GET", "/healthz", "", "");
    assert_eq!(code, 200, "a mailbox away is not a failed daemon: {health}");
    assert!(request(http, "GET", "/metrics", "", "").1.contains("nurture_imap_up 0"));
    // The second steps fall due and go out while the mailbox is away.
    let sent = inbox.clone();
    wait(dir, "sending during the outage", 30, || {
        ["ana@x.test", "ben@x.test"].iter().all(|l| message(&sent, l, &format!("s2 for {l}")).is_some())
    });
    // The outage lasts 20 s whatever the sending took.
    std::thread::sleep(Duration::from_secs(20).saturating_sub(away.elapsed()));
    imap.up();
    let id = header(&message(&inbox, "ana@x.test", "s2 for ana@x.test").unwrap(), "Message-ID").unwrap().to_string();
    imap.append(&[reply("ana@x.test", "<r2@x.test>", &id, "Yes, let's talk.")]).await;
    let notices = inbox.clone();
    wait(dir, "the reply after the outage", 30, || {
        message(&notices, OWNER, "ana replied to 's1 for ana@x.test'").is_some()
    });
    assert!(request(http, "GET", "/healthz", "", "").1.contains("imap: ok"));
    assert!(request(http, "GET", "/metrics", "", "").1.contains("nurture_imap_up 1"));
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert!(log.contains("Inbound mailbox unavailable; retrying."), "the outage is logged");
    assert!(!log.contains(support::dovecot::PASSWORD), "the password never reaches the log");
}

/// `leads` leads each write back once, a reply or an out-of-office note,
/// and two replicas on PostgreSQL read the mailbox; the one reading is
/// SIGKILLed mid-batch (the owner notices are slowed by the SMTP server,
/// so the batch is long) and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_batch_of_inbound_mail_handles_each_message_once() {
    let db = support::PgDatabase::create("imap_kill").await;
    let url = db.url.clone();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, inbox) = (tmp.path(), tmp.path().join("inbox"));
    let (_smtp, smtp_port) = smtp_server(&inbox, 120);
    let imap = Dovecot::start();
    let n = 40;
    let leads: Vec<String> = (0..n).map(|i| format!("l{i}@x.test")).collect();
    project(dir, smtp_port, &imap, "1d", &[], None);
    let mut csv = String::from("email,first_name,owner,status\n");
    for l in &leads {
        csv += &format!("{l},{},{OWNER},won\n", l.split('@').next().unwrap());
    }
    std::fs::write(dir.join("leads.csv"), csv).unwrap();
    import(dir, &url);
    let mail: Vec<String> = leads
        .iter()
        .enumerate()
        .map(|(i, l)| match i % 2 {
            0 => reply(l, &format!("<r{i}@x.test>"), "<unknown@x.test>", "Please call me."),
            _ => auto_reply(l, &format!("<o{i}@x.test>"), "<unknown@x.test>"),
        })
        .collect();
    imap.append(&mail).await;

    let first = start(dir, &url, "first");
    let other = start(dir, &url, "other");
    let done = |url: String| async move {
        let rows = drip::pairs(&url, "SELECT state, CAST(COUNT(*) AS TEXT) FROM inbound GROUP BY state").await;
        rows.iter().find(|(s, _)| s == "done").map_or(0, |(_, c)| c.parse::<usize>().unwrap())
    };
    let started = std::time::Instant::now();
    while done(url.clone()).await < 6 {
        assert!(started.elapsed() < Duration::from_secs(30), "no inbound mail handled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(first); // SIGKILL, mid-batch
    assert!(done(url.clone()).await < n, "the kill came before the batch ended");
    let again = start(dir, &url, "again");
    let started = std::time::Instant::now();
    while done(url.clone()).await < n {
        assert!(started.elapsed() < Duration::from_secs(60), "the rest was not handled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept = imap.folder("INBOX").await;
    let filed = imap.folder("nurture/processed").await;
    drop((again, other));
    let rows = drip::pairs(&url, "SELECT message_key, kind FROM inbound").await;
    assert_eq!(rows.len(), n, "one mark per message: {rows:?}");
    let replies: Vec<String> = (0..n).step_by(2).map(|i| format!("<r{i}@x.test>")).collect();
    let mut away: Vec<String> = (1..n).step_by(2).map(|i| format!("<o{i}@x.test>")).collect();
    let mut want = replies.clone();
    want.sort();
    away.sort();
    assert_eq!(ids(&kept), want.iter().map(String::as_str).collect::<Vec<_>>(), "replies stay, once each");
    assert!(kept.iter().all(flagged), "every reply flagged handled: {kept:?}");
    assert_eq!(ids(&filed), away.iter().map(String::as_str).collect::<Vec<_>>(), "out-of-office notes filed once each");
    // A reply cut off between its mark and its end is applied again, so
    // its owner may hear of it twice (README): never none, at most one more.
    let notices = received(&inbox).into_iter().filter(|m| header(m, "To") == Some(OWNER)).count();
    assert!((n / 2..=n / 2 + 1).contains(&notices), "{notices} notices for {} replies", n / 2);
    db.drop_now().await;
}

/// A message whose handling panics (a bug, injected here by the test's
/// marker: `NURTURE_FAULT_INBOUND_PANIC`) is tried three times, then set
/// aside in the quarantine folder; the reader goes on with the next
/// message, and health and metrics say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_quarantined_after_three_tries_and_reading_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, inbox) = (tmp.path(), tmp.path().join("inbox"));
    let (_smtp, smtp_port) = smtp_server(&inbox, 0);
    let imap = Dovecot::start();
    let http = free_port();
    project(dir, smtp_port, &imap, "1h", &["ana@x.test"], Some(http));
    let url = sqlite_url(dir);
    import(dir, &url);
    let log = std::fs::File::create(dir.join("run.log")).unwrap();
    let mut daemon = Kill(
        nurture(dir, &url, &["run"])
            .env("NURTURE_FAULT_INBOUND_PANIC", "POISON-3f9a")
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let first = inbox.clone();
    wait(dir, "the first email", 30, || message(&first, "ana@x.test", "s1 for ana@x.test").is_some());
    let id = header(&message(&inbox, "ana@x.test", "s1 for ana@x.test").unwrap(), "Message-ID").unwrap().to_string();
    let poison = "From: Stranger <x@else.test>\nTo: sales@example.com\nSubject: POISON-3f9a\n\
                  Message-ID: <poison@else.test>\n\nPOISON-3f9a\n"
        .to_string();
    imap.append(&[poison, reply("ana@x.test", "<r1@x.test>", &id, "Yes, call me.")]).await;

    let notices = inbox.clone();
    wait(dir, "the reply after the poison", 60, || {
        message(&notices, OWNER, "ana replied to 's1 for ana@x.test'").is_some()
    });
    let held = imap.folder("nurture/quarantine").await;
    assert_eq!(ids(&held), ["<poison@else.test>"], "the poison message is set aside");
    assert_eq!(ids(&imap.folder("INBOX").await), ["<r1@x.test>"], "the reply stays where people read it");
    let (code, health) = request(http, "GET", "/healthz", "", "");
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("1 message(s) quarantined (last: <poison@else.test>"), "{health}");
    let metrics = request(http, "GET", "/metrics", "", "").1;
    assert!(metrics.contains("nurture_inbound_quarantined_total 1"), "{metrics}");
    assert!(metrics.contains("nurture_task_panics_total{task=\"mailbox\"} 3"), "three tries: {metrics}");
    let log = std::fs::read_to_string(dir.join("run.log")).unwrap();
    assert_eq!(log.matches("Inbound message failed.").count(), 3, "{log}");
    assert!(drip::stop(&mut daemon.0), "a clean stop");
}
