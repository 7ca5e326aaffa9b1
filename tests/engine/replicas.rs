//! Replicas on one PostgreSQL database, ticking at the same instants: each
//! sweep fire, each step and each digest happens once in total.

use nurture::engine::events::Kind as Ev;

use crate::helpers::{Backend, Recorder, World, utc};

const CAMPAIGN: &str = r#"
[audience]
status = ["nurturing"]
[enrol]
cron = "0 9 * * *"
[[step]]
id = "hello"
email = "t"
subject = "hello"
[[step]]
id = "call"
after = "1h"
task = "Call {{lead.first_name}}"
assign = "r@s.test"
due = "1d"
"#;

fn count(rec: &Recorder, kind: Ev) -> usize {
    rec.events.lock().unwrap().iter().filter(|e| e.event == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ticking_together_do_everything_once() {
    let config = "[reminders]\ndigest = \"0 8 * * *\"\n";
    let a = World::new(Backend::Postgres, config, &[("c", CAMPAIGN)]).await.with_concurrency(4);
    let (b, b_rec) = a.replica().await;
    let b = b.with_concurrency(4);
    let start = utc("2026-03-02T00:00:00Z");
    let mut csv = String::from("email,first_name,status\n");
    for i in 0..200 {
        csv += &format!("l{i}@x.test,L{i},nurturing\n");
    }
    a.import(&csv, start).await;

    // Both tick at every instant either would wake at, at the same time.
    let mut t = start;
    let end = utc("2026-03-04T00:00:00Z");
    while t < end {
        let (ra, rb) = tokio::join!(a.engine.tick(t), b.tick(t));
        ra.unwrap();
        rb.unwrap();
        let next = [a.engine.next_wakeup(t).await.unwrap(), b.next_wakeup(t).await.unwrap()];
        match next.into_iter().flatten().min() {
            Some(n) => t = n,
            None => break,
        }
    }

    let total = |kind: Ev| count(&a.rec, kind.clone()) + count(&b_rec, kind);
    assert_eq!(total(Ev::Enrolled), 200, "each lead enrolled once, by one sweep");
    assert_eq!(total(Ev::Email), 200, "each hello once");
    assert_eq!(total(Ev::Task), 200, "each call task once");
    assert_eq!(total(Ev::Skipped), 0, "no replica found a step another had begun");
    // The digest fires at 08:00 on the 3rd: one digest, on one replica.
    let digests: Vec<usize> = [&a.rec, &b_rec]
        .iter()
        .flat_map(|r| r.events.lock().unwrap().clone())
        .filter(|e| e.event == Ev::Digest)
        .map(|e| e.count.unwrap())
        .collect();
    assert_eq!(digests, [200], "one digest listing every open task");
    // How the work splits between the two depends on timing; that a
    // replica's claimed leads are left to it is the test below.
    drop(b);
    a.finish().await;
}

/// While one replica holds the claims of a batch of leads, another's tick
/// does every other due step and leaves those leads alone; the holder
/// then does them, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_leaves_the_leads_another_has_claimed() {
    let a = World::new(Backend::Postgres, "", &[("c", CAMPAIGN)]).await;
    let (b, b_rec) = a.replica().await;
    let start = utc("2026-03-02T00:00:00Z");
    let mut csv = String::from("email,first_name,status\n");
    for i in 0..50 {
        csv += &format!("l{i}@x.test,L{i},nurturing\n");
    }
    a.import(&csv, start).await;
    let nine = utc("2026-03-02T09:00:00Z");
    a.engine.tick(start).await.unwrap();
    a.engine.tick(nine).await.unwrap();
    assert_eq!(count(&a.rec, Ev::Email), 50, "the sweep's replica sent the hellos");

    let ten = utc("2026-03-02T10:00:00Z");
    let campaigns = vec!["c".to_string()];
    let held = a.store().due(ten, &campaigns, 10, &[]).await.unwrap();
    assert_eq!(held.len(), 10, "replica a claims ten leads' calls");
    b.tick(ten).await.unwrap();
    assert_eq!(count(&b_rec, Ev::Task), 40, "replica b does every call but the claimed ones");
    a.engine.tick(ten).await.unwrap();
    assert_eq!(count(&a.rec, Ev::Task), 10, "the holder does its own");
    assert_eq!(count(&a.rec, Ev::Skipped) + count(&b_rec, Ev::Skipped), 0, "no step found begun by another");
    drop(b);
    a.finish().await;
}
