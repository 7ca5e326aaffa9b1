//! SpamAssassin's local rules (Debian's `spamassassin -t -L`) over one
//! message of every kind nurture sends, built exactly as the outbox and SMTP
//! send them: each bundled campaign email, a task reminder, a digest, a
//! reply notice, a hand-off and its escalation. No rule may add points: list headers come with a
//! `List-Id`, text with HTML, dates and Message-IDs as RFC 5322 wants.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use nurture::mail::Outgoing;
use nurture::mail::message::{Envelope, build};

use crate::helpers::{Backend, World, days, utc};

const CONFIG: &str = "[schedule]\ntimezone = \"Europe/Berlin\"\n\
                      [mail]\nfrom = \"Acme Sales <sales@acme-corp.com>\"\nreply_to = \"team@acme-corp.com\"\n\
                      postal_address = \"Acme Corp, 1 Harbour Street, Hamburg\"\n\
                      [policy]\nmax_emails = 20\nper = \"7d\"\nmin_gap = \"0s\"\n\
                      [handoff]\nescalate_to = \"head.of.sales@acme-corp.com\"\n";

const LEADS: &str = "email,first_name,last_name,company,owner,status,status_changed_at,lost_reason,timezone\n\
    ana@globex-industries.com,Ana,Ruiz,Globex,rep.one@acme-corp.com,new,2026-03-01T00:00:00Z,,Europe/Madrid\n\
    ben@initech-systems.com,Ben,Okafor,Initech,rep.two@acme-corp.com,nurturing,2026-02-01T00:00:00Z,,Europe/Berlin\n\
    cy@umbrella-labs.com,Cy,Tanaka,Umbrella,rep.one@acme-corp.com,lost,2025-08-01T00:00:00Z,price,Europe/Paris\n\
    dee@hooli-tech.com,Dee,Moreau,Hooli,rep.two@acme-corp.com,disqualified,2025-11-01T00:00:00Z,budget,Europe/Rome\n";

/// Rules that fired, with their points, for one message.
fn spamassassin(message: &[u8]) -> Vec<(f64, String)> {
    let mut child = Command::new("spamassassin")
        .args(["-t", "-L"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spamassassin (scripts/test installs it)");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let table = report.split_once("Content analysis details").map(|(_, t)| t).expect("a SpamAssassin report");
    table
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let points: f64 = w.next()?.parse().ok()?;
            let rule = w.next()?;
            rule.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                .then(|| (points, rule.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_nurture_sends_scores_a_spam_point() {
    let w = World::bundled(Backend::Sqlite, CONFIG).await;
    let start = utc("2026-03-02T06:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(45)).await;
    // Ana answers her welcome email: her owner is told.
    let welcome = w.rec.sent.lock().unwrap().iter().find(|m| m.to == "ana@globex-industries.com").cloned().unwrap();
    let reply = format!(
        "From: Ana Ruiz <ana@globex-industries.com>\r\nTo: sales@acme-corp.com\r\nSubject: Re: {}\r\n\
         Message-ID: <reply-1@globex-industries.com>\r\nIn-Reply-To: {}\r\nDate: Mon, 20 Apr 2026 10:00:00 +0200\r\n\r\n\
         Thanks, can we talk on Thursday afternoon about pricing for forty seats?\r\n",
        welcome.subject,
        welcome.message_id.clone().unwrap()
    );
    w.engine.inbound(reply.as_bytes(), start + days(45)).await.unwrap();
    // Ben reads the pricing page three times: ready; nobody calls him.
    let ready = start + days(45) + chrono::TimeDelta::hours(1);
    for _ in 0..3 {
        w.engine.event("ben@initech-systems.com", "page_view", "pricing", ready).await.unwrap();
    }
    w.run(ready, ready + chrono::TimeDelta::hours(3)).await;

    // One message of each kind: per campaign step, per rep email kind.
    let sent: Vec<Outgoing> = w.rec.sent.lock().unwrap().clone();
    let mut kinds: BTreeMap<String, Outgoing> = BTreeMap::new();
    for m in sent {
        let kind = match (&m.list_id, m.to.contains("rep.")) {
            (Some(list), _) => format!("campaign email {list} {}", m.subject.split_whitespace().next().unwrap_or("")),
            (None, _) if m.subject.starts_with("Ready now:") => "hand-off".into(),
            (None, _) if m.subject.starts_with("Not called yet:") => "escalation".into(),
            (None, true) if m.subject.contains("replied to") => "reply notice".into(),
            (None, true) if m.subject.to_lowercase().contains("open task") => "digest".into(),
            (None, true) => "task reminder".into(),
            (None, false) => format!("other: {}", m.subject),
        };
        kinds.entry(kind).or_insert(m);
    }
    let names: Vec<&String> = kinds.keys().collect();
    for want in ["reply notice", "digest", "task reminder", "hand-off", "escalation"] {
        assert!(kinds.contains_key(want), "no {want} among {names:?}");
    }
    assert!(kinds.keys().filter(|k| k.starts_with("campaign email")).count() >= 4, "{names:?}");

    let mail = &w.engine.defs().config.mail;
    let env = Envelope { from: &mail.from, reply_to: mail.reply_to.as_ref() };
    let scored: Vec<(String, Vec<(f64, String)>)> = std::thread::scope(|s| {
        let runs: Vec<_> = kinds
            .iter()
            .map(|(kind, m)| {
                let bytes = build(m, &env).unwrap().formatted();
                (kind.clone(), s.spawn(move || spamassassin(&bytes)))
            })
            .collect();
        runs.into_iter().map(|(k, h)| (k, h.join().unwrap())).collect()
    });
    let mut failures = Vec::new();
    for (kind, rules) in &scored {
        eprintln!("{kind}: {rules:?}");
        let scoring: Vec<_> = rules.iter().filter(|(p, _)| *p > 0.0).collect();
        if !scoring.is_empty() {
            failures.push(format!("{kind}: {scoring:?}"));
        }
    }
    assert!(failures.is_empty(), "rules above 0 points:\n{}", failures.join("\n"));
    w.finish().await;
}
