//! Several `nurture run` replicas on one PostgreSQL database, sending to a
//! real SMTP server (aiosmtpd): they share the due work, each (lead, step)
//! goes out exactly once, and a replica killed mid-batch loses nothing and
//! repeats nothing: its claims expire and the others finish its leads.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sqlx::{Connection, Row};
use support::cluster::Cluster;
use support::drip::{self, nurture, states};
use support::pgbouncer::PgBouncer;
use support::{Kill, PgDatabase, header, received, smtp_server, wait_for};

const POOL: usize = 4;

fn project(dir: &Path, smtp_port: u16, leads: usize, extra: &str) {
    drip::project(dir, smtp_port, POOL, "[\"1s\"]", leads, extra);
}

/// A replica logging to `log-N.json` in `dir`.
fn replica(dir: &Path, url: &str, n: usize) -> Kill {
    let log = std::fs::File::create(dir.join(format!("log-{n}.json"))).unwrap();
    Kill(nurture(dir, url, &["run"]).stderr(Stdio::from(log)).spawn().unwrap())
}

/// SIGTERM, then the exit status: a clean stop releases claims.
fn stop(mut r: Kill) -> bool {
    drip::stop(&mut r.0)
}

/// How many log lines of replica `n` carry this message.
fn logged(dir: &Path, n: usize, message: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(format!("log-{n}.json"))).unwrap_or_default();
    text.lines().filter(|l| l.contains(&format!("\"message\":\"{message}\""))).count()
}

fn inbox_counts(inbox: &Path) -> HashMap<(String, String), usize> {
    drip::counts(&received(inbox))
}

async fn scalar(url: &str, sql: &'static str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).fetch_one(&mut c).await.unwrap().get::<i64, _>(0)
}

/// Three replicas on `via` (a URL of the database `db` reaches directly,
/// or a way to it: a pooler, TLS), with `database` keys added to the
/// config: every (lead, step) of 150 leads goes out exactly once, the work
/// is shared, nothing collides.
async fn three_replicas_send_each_step_exactly_once(db: &str, via: &str, database: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    // 50 ms a message: one replica alone needs seconds, so all three join in.
    let (_server, port) = smtp_server(&inbox, 50);
    let leads = 150;
    project(dir, port, leads, "");
    let config = std::fs::read_to_string(dir.join("nurture.toml")).unwrap();
    std::fs::write(dir.join("nurture.toml"), config.replace("[database]\n", &format!("[database]\n{database}")))
        .unwrap();
    assert!(nurture(dir, via, &["migrate"]).status().unwrap().success(), "migrate through {via}");
    let replicas: Vec<Kill> = (0..3).map(|n| replica(dir, via, n)).collect();

    assert!(nurture(dir, db, &["leads", "import", "leads.csv"]).status().unwrap().success());
    let want = 2 * leads;
    wait_for("every step sent", Duration::from_secs(90), || received(&inbox).len() >= want);
    let settled = || async { states(db).await.get("sent").copied().unwrap_or(0) };
    for _ in 0..50 {
        if settled().await == want as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for r in replicas {
        assert!(stop(r), "a replica exited non-zero");
    }

    let counts = inbox_counts(&inbox);
    assert_eq!(counts.len(), want, "every (lead, step) received");
    assert!(counts.values().all(|&n| n == 1), "a message came twice: {counts:?}");
    assert_eq!(received(&inbox).len(), want);
    assert_eq!(states(db).await, HashMap::from([("sent".to_string(), want as i64)]));
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM enrolments WHERE active").await, 0);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM claims").await, 0, "a clean stop releases claims");
    let per_replica: Vec<usize> = (0..3).map(|n| logged(dir, n, "Email sent.")).collect();
    eprintln!("sends per replica: {per_replica:?}");
    assert_eq!(per_replica.iter().sum::<usize>(), want, "{per_replica:?}");
    assert!(per_replica.iter().filter(|&&n| n > 0).count() >= 2, "the work was not shared: {per_replica:?}");
    // Claims keep replicas off each other's leads: none ever found a step
    // another had begun (which it would have had to record as uncertain).
    let collisions: usize = (0..3).map(|n| logged(dir, n, "Step not carried out.")).sum();
    assert_eq!(collisions, 0, "replicas collided on a step");
    let failed: usize = (0..3).map(|n| logged(dir, n, "Tick failed; retrying at the next tick.")).sum();
    assert_eq!(failed, 0, "a tick failed");
}

#[tokio::test]
async fn three_replicas_share_the_work_and_send_each_step_exactly_once() {
    let db = PgDatabase::create("three_replicas").await;
    three_replicas_send_each_step_exactly_once(&db.url, &db.url, "").await;
    db.drop_now().await;
}

/// Fleets put PgBouncer in transaction mode in front of PostgreSQL (each
/// transaction may run on another server connection): with `pooler =
/// "transaction"` the same scenario holds through it.
#[tokio::test]
async fn through_pgbouncer_in_transaction_mode_each_step_goes_out_once() {
    let db = PgDatabase::create("pgbouncer").await;
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let bouncer = tokio::task::spawn_blocking(move || PgBouncer::start(&name)).await.unwrap();
    let via = bouncer.url(&db.url);
    three_replicas_send_each_step_exactly_once(&db.url, &via, "pooler = \"transaction\"\n").await;
    assert!(bouncer.log().contains("login attempt"), "the replicas went through PgBouncer: {}", bouncer.log());
    drop(bouncer);
    db.drop_now().await;
}

/// A managed database that accepts only TLS (`hostssl`, a CA of its own):
/// replicas verify the server against `sslrootcert` in the URL, or against
/// `[database] ca_file`; a connection without TLS is refused (exit 3).
#[tokio::test]
async fn against_a_server_that_accepts_only_tls_each_step_goes_out_once() {
    let (cluster, ca) = tokio::task::spawn_blocking(|| {
        let mut c = Cluster::init();
        let ca = c.tls_only();
        c.start();
        (c, ca)
    })
    .await
    .unwrap();
    let plain = format!("{}?sslmode=disable", cluster.url());
    let admin = format!("{}?sslmode=verify-full&sslrootcert={}", cluster.url(), ca.display());
    let tmp = tempfile::tempdir().unwrap();
    drip::project(tmp.path(), support::free_port(), POOL, "[\"1s\"]", 0, "");
    let refused = nurture(tmp.path(), &plain, &["migrate"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(3), "no TLS, no database: {}", String::from_utf8_lossy(&refused.stderr));
    let with_ca_file = format!("{}?sslmode=verify-full", cluster.url());
    let ca_file = format!("ca_file = \"{}\"\n", ca.display());
    three_replicas_send_each_step_exactly_once(&admin, &with_ca_file, &ca_file).await;
    drop(cluster);
}

#[tokio::test]
async fn a_replica_killed_mid_batch_loses_and_repeats_nothing() {
    let db = PgDatabase::create("replica_killed").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (_server, port) = smtp_server(&inbox, 20);
    // The slow lead's first message is held by the server without a reply:
    // whichever replica sends it is mid-send, with a batch claimed.
    let leads = 60;
    project(dir, port, leads, "slow@x.test,new\n");
    assert!(nurture(dir, &db.url, &["migrate"]).status().unwrap().success());
    let mut replicas: Vec<Option<Kill>> = (0..3).map(|n| Some(replica(dir, &db.url, n))).collect();
    assert!(nurture(dir, &db.url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    let slow_held = || received(&inbox).iter().any(|m| header(m, "To") == Some("slow@x.test"));
    wait_for("the slow message to be held", Duration::from_secs(30), slow_held);
    let owner: String = {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let sql = "SELECT c.owner FROM claims c JOIN leads l ON l.id = c.lead_id WHERE l.email = 'slow@x.test'";
        sqlx::query(sql).fetch_one(&mut c).await.unwrap().get(0)
    };
    let pid: u32 = owner.rsplit(':').nth(1).unwrap().parse().unwrap();
    let victim = replicas.iter().position(|r| r.as_ref().is_some_and(|k| k.0.id() == pid)).expect("a replica's pid");
    drop(replicas[victim].take()); // SIGKILL, mid-send: no outcome recorded

    // The others take its leads over once its lease (2 s) runs out.
    let want = 2 * (leads + 1) as i64;
    let s = drip::settle(&db.url, want, Duration::from_secs(60)).await;
    assert_eq!(drip::finished(&s), want, "not every step reached a final state: {s:?}");
    for r in replicas.into_iter().flatten() {
        assert!(stop(r), "a surviving replica exited non-zero");
    }

    // The ledger: every step has exactly one final state; the server got
    // each message at most once and every `sent` one exactly once; only
    // what the dead replica had in flight is `uncertain`.
    let s = drip::assert_ledger(&db.url, &received(&inbox), want, POOL as i64).await;
    eprintln!("after the kill: {s:?}");
    assert!(s.get("uncertain").is_some_and(|n| *n >= 1), "the held message is uncertain: {s:?}");
    let counts = inbox_counts(&inbox);
    assert_eq!(counts.get(&("slow@x.test".into(), "s1 for slow@x.test".into())), Some(&1));
    assert_eq!(counts.get(&("slow@x.test".into(), "s2 for slow@x.test".into())), Some(&1), "the enrolment went on");
    assert_eq!(scalar(&db.url, "SELECT COUNT(*) FROM enrolments WHERE active").await, 0);
    db.drop_now().await;
}

/// The "fire" of each "Housekeeping job done." line of replica `n`.
fn fires(dir: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(format!("log-{n}.json"))).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "Housekeeping job done.")
        .map(|v| v["fire"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn two_replicas_run_each_housekeeping_fire_once() {
    let db = PgDatabase::create("housekeeping").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_server, port) = smtp_server(&dir.join("inbox"), 0);
    project(dir, port, 0, "");
    let jobs = "[housekeeping]\nretention = \"1d\"\nexpire = \"*/2 * * * * *\"\n";
    let config = std::fs::read_to_string(dir.join("nurture.toml")).unwrap() + jobs;
    std::fs::write(dir.join("nurture.toml"), config).unwrap();
    assert!(nurture(dir, &db.url, &["migrate"]).status().unwrap().success());
    let replicas = [replica(dir, &db.url, 0), replica(dir, &db.url, 1)];
    wait_for("five fires", Duration::from_secs(60), || fires(dir, 0).len() + fires(dir, 1).len() >= 5);
    for r in replicas {
        assert!(stop(r));
    }
    let mut all: Vec<String> = fires(dir, 0).into_iter().chain(fires(dir, 1)).collect();
    all.sort();
    let distinct: std::collections::BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a fire ran twice: {all:?}");
    // Each run names its fire's own instant (an even second), not the
    // moment a replica woke: that instant is what the replicas claim.
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    assert!(all.iter().all(|f| at(f) % 2 == 0), "{all:?}");
    let (ran0, ran1) = (fires(dir, 0).len(), fires(dir, 1).len());
    eprintln!("fires run by replica 0: {ran0}, by replica 1: {ran1}");
    db.drop_now().await;
}
