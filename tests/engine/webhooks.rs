//! The webhook sender against a real HTTP receiver (an axum server in the
//! test) that checks every signature, drops repeats by event id, answers
//! 500 to every third request and is down (503) for a while: every event
//! arrives, in order per lead. A receiver that never answers: retried, then
//! dead, and `replay` sends it again; one that answers 410: disabled.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use nurture::store::Source;
use nurture::webhooks::send::{Sender, round};

use crate::helpers::{Backend, World, both, utc};

#[derive(Default)]
struct Receiver {
    /// Requests seen, every one.
    requests: usize,
    /// (lead email, event type) in the order first received.
    got: Vec<(String, String)>,
    seen: std::collections::HashSet<String>,
    down: bool,
    bad_signatures: usize,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(State(r): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut r = r.lock().unwrap();
    r.requests += 1;
    if r.down {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if r.requests % 3 == 0 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature = headers.get("nurture-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !nurture::webhooks::sign::verify(b"s3cret-hook", signature, &body) {
        r.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = headers.get("nurture-event-id").unwrap().to_str().unwrap().to_string();
    assert_eq!(v["id"], id.as_str());
    if r.seen.insert(id) {
        let who = v["lead"]["email"].as_str().unwrap_or("").to_string();
        r.got.push((who, v["type"].as_str().unwrap().to_string()));
    }
    StatusCode::NO_CONTENT
}

async fn serve(router: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

const CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                        [[step]]\nid = \"call\"\ntask = \"Call {{lead.first_name}}\"\nassign = \"owner\"\n";

fn config(port: u16, path: &str, extra: &str) -> String {
    format!(
        "[[webhook]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{port}/{path}\"\nsecret_file = \"secret\"\n\
         timeout = \"1s\"\n{extra}"
    )
}

/// Rounds of the sender from `from`, a virtual minute apart, until `done`
/// or `rounds` are spent; the time reached.
async fn rounds(w: &World, from: DateTime<Utc>, rounds: usize, done: impl Fn() -> bool) -> DateTime<Utc> {
    let hooks = w.engine.defs().config.webhooks.clone();
    let mut sender = Sender::default();
    let mut t = from;
    for _ in 0..rounds {
        round(w.store(), &hooks, &mut sender, t).await.unwrap();
        if done() {
            break;
        }
        t += TimeDelta::minutes(1);
    }
    t
}

async fn every_event_arrives_once_in_order_per_lead(b: Backend) {
    let r: Shared = Arc::default();
    let port = serve(axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(r.clone())).await;
    let files = [("secret", "s3cret-hook\n")];
    let w = World::with_files(b, &config(port, "hook", ""), &[("c", CAMPAIGN)], &files).await;
    let start = utc("2026-03-02T08:00:00Z");
    rounds(&w, start, 1, || true).await; // the webhook first seen: it starts after what exists
    let leads: String = (0..6).map(|i| format!("l{i}@x.test,L{i},nurturing,rep@s.test\n")).collect();
    w.import(&format!("email,first_name,status,owner\n{leads}"), start).await;
    w.run(start, start + TimeDelta::hours(2)).await;
    for i in 0..6 {
        let email = format!("l{i}@x.test");
        let t = start + TimeDelta::hours(3);
        w.engine.set_status(&email, "lost", Some("price"), Source::Api, t).await.unwrap();
        w.engine.set_status(&email, "nurturing", None, Source::Api, t).await.unwrap();
        w.engine.replied(&email, Source::Api, t).await.unwrap();
    }
    let expected = w.scalar("SELECT COUNT(*) FROM webhook_events WHERE lead_id IS NOT NULL AND id > $1", 0i64).await;
    // Down for the first rounds, then up with a 500 every third request.
    r.lock().unwrap().down = true;
    let t = rounds(&w, start + TimeDelta::hours(4), 3, || false).await;
    r.lock().unwrap().down = false;
    let total = |r: &Shared| r.lock().unwrap().got.len() as i64;
    rounds(&w, t, 400, || total(&r) >= expected).await;
    {
        let got = r.lock().unwrap();
        assert_eq!(got.bad_signatures, 0);
        assert_eq!(got.got.len() as i64, expected, "every event, once: {:?}", got.got);
        for i in 0..6 {
            let email = format!("l{i}@x.test");
            let kinds: Vec<&str> = got.got.iter().filter(|(e, _)| *e == email).map(|(_, k)| k.as_str()).collect();
            assert_eq!(kinds, ["task.created", "lead.status", "lead.status", "lead.replied"], "{email}");
        }
    }
    let stats = w.store().hook_stats("crm").await.unwrap();
    assert_eq!((stats.pending, stats.dead, stats.delivered), (0, 0, expected));
    w.finish().await;
}
both!(every_event_arrives_once_in_order_per_lead);

async fn silent_receivers_die_and_replay_and_gone_disables(b: Backend) {
    let slow = axum::Router::new()
        .route("/slow", axum::routing::post(|| async { tokio::time::sleep(std::time::Duration::from_secs(30)).await }))
        .route("/gone", axum::routing::post(|| async { StatusCode::GONE }));
    let port = serve(slow).await;
    let files = [("secret", "s3cret-hook\n")];
    let w = World::with_files(b, &config(port, "slow", "give_up_after = \"10m\"\n"), &[("c", CAMPAIGN)], &files).await;
    let start = utc("2026-03-02T08:00:00Z");
    rounds(&w, start, 1, || true).await;
    w.import("email,first_name,status,owner\nana@x.test,Ana,nurturing,rep@s.test\n", start).await;
    w.engine.replied("ana@x.test", Source::Api, start).await.unwrap();
    // Each round waits out the 1 s timeout; the event dies after 10 minutes.
    rounds(&w, start, 15, || false).await;
    let s = w.store().hook_stats("crm").await.unwrap();
    assert_eq!((s.pending, s.dead), (0, 1), "{s:?}");
    assert!(s.last_error.contains("no answer within 1"), "{s:?}");
    assert_eq!(w.scalar("SELECT COUNT(*) FROM webhook_events WHERE type = $1", "lead.replied").await, 1);
    assert_eq!(w.store().replay(None, None, start + TimeDelta::hours(1)).await.unwrap(), 1);
    assert_eq!(w.store().hook_stats("crm").await.unwrap().pending, 1, "pending again");

    // The same event to a receiver that answers 410: the webhook is disabled.
    let mut hook = w.engine.defs().config.webhooks[0].clone();
    hook.url = format!("http://127.0.0.1:{port}/gone");
    round(w.store(), &[hook], &mut Sender::default(), start + TimeDelta::hours(1)).await.unwrap();
    let s = w.store().hook_stats("crm").await.unwrap();
    assert!(s.disabled.as_ref().is_some_and(|(_, why)| why.contains("410")), "{s:?}");
    w.finish().await;
}
both!(silent_receivers_die_and_replay_and_gone_disables);

/// A transaction that took its event id first and commits last (as two
/// replicas' changes do on PostgreSQL) still has its event sent: the sender
/// fans out what is not yet fanned out, not what lies past a cursor.
/// Delivered events are deleted after `webhook_events`; pending and dead
/// ones are kept.
async fn late_commits_are_sent_and_delivered_events_are_forgotten(b: Backend) {
    let port =
        serve(axum::Router::new().route("/hook", axum::routing::post(|| async { StatusCode::NO_CONTENT }))).await;
    let files = [("secret", "s3cret-hook\n")];
    let w = World::with_files(b, &config(port, "hook", ""), &[("c", CAMPAIGN)], &files).await;
    let start = utc("2026-03-02T08:00:00Z");
    rounds(&w, start, 1, || true).await;
    w.import("email,first_name,status,owner\nana@x.test,Ana,nurturing,rep@s.test\n", start).await;
    let late = "INSERT INTO webhook_events (uid, type, lead_id, stream, at, body) VALUES \
                ('evt_late', 'campaign.paused', NULL, 'campaign:c', '2026-03-02T08:00:00Z', '{\"id\": \"evt_late\"}')";
    let mut open = None;
    if b == Backend::Postgres {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&w.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut c).await.unwrap();
        sqlx::query(late).execute(&mut c).await.unwrap();
        open = Some(c);
    }
    w.engine.replied("ana@x.test", Source::Api, start).await.unwrap();
    let t = rounds(&w, start, 1, || true).await;
    match open {
        Some(mut c) => {
            let later = w.scalar("SELECT COUNT(*) FROM webhook_events WHERE id > $1 AND fanned", 0i64).await;
            assert!(later >= 1, "an event with a later id fanned out while the first is uncommitted");
            sqlx::query("COMMIT").execute(&mut c).await.unwrap();
        }
        None => w.crm(late).await,
    }
    rounds(&w, t, 3, || true).await;
    let made = "SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE e.uid = $1";
    assert_eq!(w.scalar(made, "evt_late").await, 1, "the late event has its delivery");
    assert!(w.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE state = $1", "delivered").await >= 2);

    // One event left dead: kept; the delivered ones go after a week.
    w.crm("UPDATE webhook_deliveries SET state = 'dead' WHERE event_id = (SELECT MAX(id) FROM webhook_events)").await;
    let events = w.scalar("SELECT COUNT(*) FROM webhook_events WHERE id > $1", 0i64).await;
    assert_eq!(w.store().forget_delivered(start).await.unwrap(), 0, "nothing is a week old yet");
    let n = w.store().forget_delivered(start + TimeDelta::days(8)).await.unwrap();
    assert_eq!(n as i64, events - 1, "every event but the dead one");
    assert_eq!(w.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE state = $1", "delivered").await, 0);
    assert_eq!(w.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE state = $1", "dead").await, 1);
    w.finish().await;
}
both!(late_commits_are_sent_and_delivered_events_are_forgotten);
