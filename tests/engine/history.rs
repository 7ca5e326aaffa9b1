//! A lead's history: who changed its status (CSV, CLI, API, a CRM writing
//! the database directly, noticed by the next sweep), suppressions and
//! unsubscribes, tasks done and replies, among our emails and its inbound
//! mail, newest first; as `leads show` and `GET /api/leads/{email}` give it.

use nurture::store::Source;

use crate::helpers::{Backend, World, both, days, utc};

const CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                        [[step]]\nid = \"hi\"\nemail = \"t\"\nsubject = \"Hi\"\n\
                        [[step]]\nid = \"call\"\nafter = \"1d\"\ntask = \"Call Ana\"\nassign = \"owner\"\ndue = \"1d\"\n";

async fn every_change_is_in_the_history_with_who_made_it(b: Backend) {
    let w = World::new(b, "", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import("email,first_name,owner,status\nana@x.test,Ana,rep@s.test,nurturing\n", start).await;
    w.run(start, start + days(2)).await;
    let task = w.store().open_tasks(None).await.unwrap()[0].id;
    w.engine.task_done(task, Source::Link, start + days(2)).await.unwrap();
    w.engine
        .set_status("ana@x.test", "sales_ready", Some("asked for a demo"), Source::Cli, start + days(3))
        .await
        .unwrap();
    // The CRM writes the table itself: the next sweep notices.
    w.crm("UPDATE leads SET status = 'won' WHERE email = 'ana@x.test'").await;
    w.run(start + days(3), start + days(4) + chrono::TimeDelta::hours(10)).await;
    w.engine.suppress("ana@x.test", "asked by phone", Source::Cli, start + days(5)).await.unwrap();
    w.engine.unsuppress("ana@x.test", Source::Api, start + days(6)).await.unwrap();
    let lead_id = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap().id;
    w.engine.unsubscribe(lead_id, start + days(7)).await.unwrap();

    let view = w.engine.lead_view("ANA@x.test", utc("2026-06-01T00:00:00Z")).await.unwrap().expect("the lead");
    let lines: Vec<String> = view
        .history
        .iter()
        .map(|e| format!("{} {} {}", e.kind, e.detail, e.source.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        lines,
        [
            "unsubscribed unsubscribed link",
            "unsuppressed  api",
            "suppressed asked by phone cli",
            "status sales_ready -> won crm",
            "status nurturing -> sales_ready (asked for a demo) cli",
            "task_done Call Ana link",
            "task sent ",
            "email sent ",
            "status -> nurturing csv",
        ],
        "newest first"
    );
    assert!(view.suppressed);
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["lead"]["email"], "ana@x.test");
    assert_eq!(json["history"][3]["source"], "crm");
    assert_eq!(json["history"][7]["campaign"], "c");
    assert!(view.text().contains("status: won since"), "{}", view.text());

    // Noticed once: later sweeps find nothing new.
    w.run(start + days(8), start + days(10)).await;
    let again = w.engine.lead_view("ana@x.test", utc("2026-06-01T00:00:00Z")).await.unwrap().unwrap();
    assert_eq!(again.history.iter().filter(|e| e.source.as_deref() == Some("crm")).count(), 1);
    assert!(w.engine.lead_view("nobody@x.test", utc("2026-06-01T00:00:00Z")).await.unwrap().is_none());
    w.finish().await;
}
both!(every_change_is_in_the_history_with_who_made_it);
