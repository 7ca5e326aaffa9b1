//! The webhook outbox: each change that a CRM hears of writes its event in
//! the change's own transaction, with the lead as it stands after it; a
//! change that changes nothing writes none; erasure takes the lead's events
//! and leaves one `lead.forgotten` by the address's hash.

use chrono::TimeDelta;
use nurture::store::Source;

use crate::helpers::{Backend, World, both, utc};

const CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                        [[step]]\nid = \"hi\"\nemail = \"t\"\nsubject = \"Hi\"\n\
                        [[step]]\nid = \"call\"\nafter = \"1d\"\ntask = \"Call {{lead.first_name}}\"\nassign = \"owner\"\n";

/// (type, the lead's status in the body, data) of the events about `lead`, in order.
async fn events(w: &World, lead: i64) -> Vec<(String, String, serde_json::Value)> {
    let url = w.url.clone();
    let sql = format!("SELECT body FROM webhook_events WHERE lead_id = {lead} ORDER BY id");
    let bodies: Vec<String> = if url.starts_with("sqlite") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut c).await.unwrap()
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut c).await.unwrap()
    };
    bodies
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            assert!(v["id"].as_str().unwrap().starts_with("evt_"), "{v}");
            (
                v["type"].as_str().unwrap().to_string(),
                v["lead"]["status"].as_str().unwrap_or("").to_string(),
                v["data"].clone(),
            )
        })
        .collect()
}

async fn every_change_writes_its_event(b: Backend) {
    let w = World::new(b, "[handoff]\nthreshold = 20\n", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T08:00:00Z");
    w.import("email,first_name,status,owner\nana@x.test,Ana,nurturing,rep@s.test\n", start).await;
    w.run(start, start + TimeDelta::days(2)).await;
    let ana = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap().id;
    let tasks = w.store().open_tasks(None).await.unwrap();
    w.engine.task_done(tasks[0].id, Source::Link, start + TimeDelta::days(2)).await.unwrap();
    let t = start + TimeDelta::days(3);
    w.engine.set_status("ana@x.test", "nurturing", None, Source::Api, t).await.unwrap();
    w.engine.set_status("ana@x.test", "lost", Some("price"), Source::Api, t).await.unwrap();
    w.engine.set_status("ana@x.test", "nurturing", None, Source::Crm, t).await.unwrap();
    w.engine.replied("ana@x.test", Source::Api, t + TimeDelta::hours(1)).await.unwrap();
    w.run(t + TimeDelta::hours(1), t + TimeDelta::hours(2)).await;
    w.engine.pause("c", "too many bounces", "guardrail", t + TimeDelta::hours(3)).await.unwrap();
    w.engine.suppress("ana@x.test", "complaint (abuse)", Source::Inbound, t + TimeDelta::hours(4)).await.unwrap();

    let found = events(&w, ana).await;
    let kinds: Vec<(&str, &str)> = found.iter().map(|(k, s, _)| (k.as_str(), s.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("task.created", "nurturing"),
            ("task.done", "nurturing"),
            ("lead.status", "lost"),
            ("lead.status", "nurturing"),
            ("lead.replied", "nurturing"),
            // The reply's 20 points reach the threshold: ready.
            ("lead.status", "sales_ready"),
            ("lead.ready", "sales_ready"),
            ("task.created", "sales_ready"),
            ("lead.complained", "sales_ready"),
        ],
        "{found:?}"
    );
    assert_eq!(found[2].2["from"], "nurturing");
    assert_eq!(found[2].2["reason"], "price");
    assert_eq!(found[6].2["rep"], "rep@s.test");
    assert_eq!(w.scalar("SELECT COUNT(*) FROM webhook_events WHERE type = $1", "campaign.paused").await, 1);

    w.engine.forget("ana@x.test", t + TimeDelta::days(1)).await.unwrap();
    assert!(events(&w, ana).await.is_empty(), "the lead's events go with it");
    assert_eq!(w.scalar("SELECT COUNT(*) FROM webhook_events WHERE type = $1", "lead.forgotten").await, 1);
    let leaked = w.scalar("SELECT COUNT(*) FROM webhook_events WHERE body LIKE $1", "%ana@x.test%").await;
    assert_eq!(leaked, 0, "the address is in no event left");
    w.finish().await;
}
both!(every_change_writes_its_event);
