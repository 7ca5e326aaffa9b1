//! Webhooks end to end: two `nurture run` replicas on one PostgreSQL
//! database send to a real HTTP receiver (an axum server in the test) that
//! checks every signature, drops repeats by event id, answers 500 to a
//! third of the requests (a fixed pseudo-random sequence) and is down
//! (nothing listening) for 20 s in the middle, while one replica is
//! SIGKILLed mid-delivery: every event arrives, each handled once, in
//! order per lead.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use sqlx::{Connection, Row};
use support::{Kill, PgDatabase, drip, free_port, request, wait_for};

#[derive(Default)]
struct Receiver {
    /// Event ids in the order first handled, and per lead stream.
    handled: Vec<String>,
    seen: HashSet<String>,
    bad_signatures: usize,
    requests: u64,
    /// xorshift64 state: a fixed pseudo-random sequence.
    rng: u64,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(State(r): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut r = r.lock().unwrap();
    r.requests += 1;
    // A fixed pseudo-random third of the requests fail.
    let mut x = if r.rng == 0 { 0x9E37_79B9_7F4A_7C15 } else { r.rng };
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r.rng = x;
    if x % 3 == 0 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature = headers.get("nurture-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !nurture::webhooks::sign::verify(b"hook-secret", signature, &body) {
        r.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers.get("nurture-event-id").unwrap().to_str().unwrap().to_string();
    if r.seen.insert(id.clone()) {
        r.handled.push(id);
    }
    StatusCode::OK
}

/// The receiver on `port` until the returned handle is aborted.
async fn receiver(port: u16, r: Shared) -> tokio::task::JoinHandle<()> {
    let listener = loop {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => break l,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(r);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
}

fn project(dir: &Path, smtp: u16, http: u16, hook: u16) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("campaigns/call.toml"),
        "[audience]\nstatus = [\"new\"]\n[enrol]\ncron = \"0 0 1 1 *\"\n\
         [[step]]\nid = \"call\"\ntask = \"Call {{lead.email}}\"\nassign = \"owner\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("templates/t.txt.hbs"), "Hi {{unsubscribe_url}}\n").unwrap();
    std::fs::write(dir.join("token"), "hook-test-token\n").unwrap();
    std::fs::write(dir.join("secret"), "hook-secret\n").unwrap();
    let config = drip::config_serving(smtp, 2, "[\"1s\"]", "", Some(http));
    let hook = format!(
        "[[webhook]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{hook}/hook\"\nsecret_file = \"secret\"\ntimeout = \"2s\"\n"
    );
    std::fs::write(dir.join("nurture.toml"), format!("{config}{hook}")).unwrap();
}

fn api(port: u16, path: &str, json: &str) -> u16 {
    let headers = "Content-Type: application/json\r\nAuthorization: Bearer hook-test-token\r\n";
    request(port, "POST", path, headers, json).0
}

fn replica(dir: &Path, url: &str, n: usize, port: u16) -> Kill {
    let config = std::fs::read_to_string(dir.join("nurture.toml")).unwrap();
    let own = regex_bind(&config, port);
    std::fs::write(dir.join(format!("nurture-{n}.toml")), own).unwrap();
    let log = std::fs::File::create(dir.join(format!("log-{n}.json"))).unwrap();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_nurture"));
    c.args(["--config", &format!("nurture-{n}.toml"), "run"]).current_dir(dir).env("NURTURE_DATABASE_URL", url);
    Kill(c.stdout(Stdio::null()).stderr(Stdio::from(log)).spawn().unwrap())
}

/// `config` with HTTP bound to `port`.
fn regex_bind(config: &str, port: u16) -> String {
    config
        .lines()
        .map(|l| if l.starts_with("bind = ") { format!("bind = \"127.0.0.1:{port}\"") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_deliver_every_event_once_in_order_per_lead_through_an_outage_and_a_kill() {
    let db = PgDatabase::create("webhooks_e2e").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_smtp, smtp) = support::smtp_server(&dir.join("inbox"), 0);
    let (p0, p1, hook_port) = (free_port(), free_port(), free_port());
    project(dir, smtp, p0, hook_port);
    let r: Shared = Arc::default();
    let mut server = receiver(hook_port, r.clone()).await;
    let ok = drip::nurture(dir, &db.url, &["migrate"]).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let first = replica(dir, &db.url, 0, p0);
    let second = replica(dir, &db.url, 1, p1);
    for port in [p0, p1] {
        wait_for("health", Duration::from_secs(20), || request(port, "GET", "/healthz", "", "").0 == 200);
    }
    // Leads and their changes, through either replica's API.
    for i in 0..20 {
        let port = if i % 2 == 0 { p0 } else { p1 };
        let lead = format!(r#"{{"email": "l{i}@x.test", "status": "new", "owner": "rep@s.test"}}"#);
        assert_eq!(api(port, "/api/leads", &lead), 200);
    }
    let half = |phase: &str| {
        for i in 0..20 {
            // After the kill only the second replica answers.
            let port = if i % 2 == 0 || phase == "c" { p1 } else { p0 };
            let path = format!("/api/leads/l{i}@x.test/events");
            let body = match phase {
                "a" => r#"{"type": "status", "status": "nurturing"}"#,
                "b" => r#"{"type": "replied"}"#,
                _ => r#"{"type": "status", "status": "lost", "reason": "price"}"#,
            };
            assert_eq!(api(port, &path, body), 200, "{phase} {i}");
        }
    };
    half("a");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The receiver goes down for 20 s; meanwhile more changes, and the
    // first replica is killed (it may hold deliveries it took).
    server.abort();
    half("b");
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(first);
    tokio::time::sleep(Duration::from_secs(15)).await;
    server = receiver(hook_port, r.clone()).await;
    half("c");

    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let rows = sqlx::query("SELECT uid, stream FROM webhook_events ORDER BY id").fetch_all(&mut c).await.unwrap();
    let events: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    // (A lead whose status changed before its task step ran has no task.)
    assert!(events.len() >= 60, "20 leads x (two statuses, a reply, mostly a task): {}", events.len());
    let all = events.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while r.lock().unwrap().handled.len() < all {
        assert!(std::time::Instant::now() < deadline, "{} of {all} handled", r.lock().unwrap().handled.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (handled, requests, bad) = {
        let got = r.lock().unwrap();
        (got.handled.clone(), got.requests, got.bad_signatures)
    };
    assert_eq!(bad, 0);
    assert_eq!(handled.len(), all, "each event handled once");
    // In order per lead: each stream's events in the order they were written.
    let place: HashMap<&str, usize> = handled.iter().enumerate().map(|(i, u)| (u.as_str(), i)).collect();
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (uid, stream) in &events {
        let at = place[uid.as_str()];
        if let Some(before) = last.insert(stream.as_str(), at) {
            assert!(before < at, "{stream}: {uid} arrived before an earlier event");
        }
    }
    assert!(requests > all as u64, "some requests failed and were retried ({requests} for {all})");
    server.abort();
    drop(second);
    db.drop_now().await;
}
