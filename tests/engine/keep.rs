//! Keeping data: a lead erased on request is gone from every table and,
//! imported again (or written in by a CRM), is never contacted; retention
//! empties old text and leaves `report` unchanged; a housekeeping fire runs
//! once however many replicas wake for it.

use chrono::TimeDelta;
use nurture::housekeeping::{self, Job};
use nurture::store::Source;

use crate::helpers::{Backend, World, both, days, utc};

const CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                        [[step]]\nid = \"hi\"\nemail = \"t\"\nsubject = \"Hi {{lead.first_name}}\"\n\
                        [[step]]\nid = \"call\"\nafter = \"1d\"\ntask = \"Call {{lead.first_name}} at {{lead.company}}\"\n\
                        assign = \"owner\"\ndue = \"1d\"\n\
                        [[step]]\nid = \"again\"\nafter = \"5d\"\nemail = \"t\"\nsubject = \"Again\"\n";

const LEADS: &str = "email,first_name,company,owner,status\n\
                     ana@x.test,Anastasia,Zyxwvut Ltd,rep@s.test,nurturing\nben@x.test,Ben,Acme,rep@s.test,nurturing\n";

/// Rows that name or point at the lead `id` / address, per table.
async fn traces(w: &World, id: i64, email: &str) -> Vec<(&'static str, i64)> {
    let by_id = [
        ("leads", "SELECT COUNT(*) FROM leads WHERE id = $1"),
        ("enrolments", "SELECT COUNT(*) FROM enrolments WHERE lead_id = $1"),
        ("deliveries", "SELECT COUNT(*) FROM deliveries WHERE lead_id = $1"),
        ("tasks", "SELECT COUNT(*) FROM tasks WHERE lead_id = $1"),
        ("history", "SELECT COUNT(*) FROM history WHERE lead_id = $1"),
        ("inbound", "SELECT COUNT(*) FROM inbound WHERE lead_id = $1"),
    ];
    let mut out = Vec::new();
    for (table, sql) in by_id {
        out.push((table, w.scalar(sql, id).await));
    }
    out.push(("suppressions", w.scalar("SELECT COUNT(*) FROM suppressions WHERE email = $1", email.to_string()).await));
    out.retain(|(_, n)| *n > 0);
    out
}

async fn a_forgotten_lead_is_gone_and_never_contacted_again(b: Backend) {
    let w = World::new(b, "", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(2)).await; // hi, then the call task
    let ana = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap().id;
    let hi = w.rec.sent.lock().unwrap().iter().find(|m| m.to == "ana@x.test").unwrap().message_id.clone().unwrap();
    let reply = format!("From: ana@x.test\r\nSubject: Re: Hi\r\nIn-Reply-To: {hi}\r\n\r\nCall me.\r\n");
    w.engine.inbound(reply.as_bytes(), start + days(2)).await.unwrap();
    w.engine.suppress("ana@x.test", "asked by phone", Source::Cli, start + days(2)).await.unwrap();
    assert!(traces(&w, ana, "ana@x.test").await.len() >= 6, "ana is everywhere before");

    let erased = w.engine.forget("ANA@x.test", start + days(2)).await.unwrap();
    assert_eq!(erased.get("leads"), Some(&1), "{erased:?}");
    assert!(erased.contains_key("suppressions") && erased.contains_key("tasks"), "{erased:?}");
    assert_eq!(traces(&w, ana, "ana@x.test").await, [], "nothing of ana is left");
    assert!(w.store().lead_by_email("ana@x.test").await.unwrap().is_none());
    let ben = w.store().lead_by_email("ben@x.test").await.unwrap().unwrap().id;
    assert_eq!(traces(&w, ben, "ben@x.test").await.len(), 5, "ben is untouched");
    if b == Backend::Sqlite {
        // Nothing readable in the files either: free pages are zeroed and
        // the WAL emptied.
        let dir = std::path::Path::new(w.url.trim_start_matches("sqlite://")).parent().unwrap().to_path_buf();
        for f in
            std::fs::read_dir(&dir).unwrap().flatten().filter(|f| f.file_name().to_string_lossy().starts_with("n.db"))
        {
            let bytes = std::fs::read(f.path()).unwrap();
            for needle in ["ana@x.test", "Anastasia", "Zyxwvut", "Call me"] {
                let found = bytes.windows(needle.len()).any(|win| win == needle.as_bytes());
                assert!(!found, "{needle:?} is still readable in {}", f.path().display());
            }
        }
    }

    // Imported again, by CSV and by the API: stored, suppressed, nothing sent.
    let sent_before = w.rec.sent.lock().unwrap().len();
    w.import(LEADS, start + days(3)).await;
    let again =
        nurture::import::parse("email,status\nAna@X.test,nurturing\n", &w.engine.defs().config.statuses).unwrap();
    w.engine.upsert_leads(&again, Source::Api, start + days(3)).await.unwrap();
    assert!(w.store().is_suppressed("ana@x.test").await.unwrap(), "recognised by its hash");
    // A CRM inserting it straight into the table: caught before the sweep.
    w.crm(
        "INSERT INTO leads (email, status, status_changed_at, created_at, updated_at) \
           VALUES ('cy@x.test', 'nurturing', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z')",
    )
    .await;
    w.engine.forget("cy@x.test", start + days(3)).await.unwrap();
    w.crm(
        "INSERT INTO leads (email, status, status_changed_at, created_at, updated_at) \
           VALUES ('cy@x.test', 'nurturing', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z')",
    )
    .await;
    w.run(start + days(3), start + days(12)).await;
    let to: Vec<String> = w.rec.sent.lock().unwrap()[sent_before..].iter().map(|m| m.to.clone()).collect();
    assert!(!to.iter().any(|t| t == "ana@x.test" || t == "cy@x.test"), "an erased address was contacted: {to:?}");
    assert!(to.iter().any(|t| t == "ben@x.test"), "ben's campaign goes on: {to:?}");
    assert!(w.store().is_suppressed("cy@x.test").await.unwrap());
    w.finish().await;
}
both!(a_forgotten_lead_is_gone_and_never_contacted_again);

async fn retention_empties_old_text_and_keeps_the_counts(b: Backend) {
    let w = World::new(b, "", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(12)).await;
    let tasks = w.store().open_tasks(None).await.unwrap();
    w.engine.task_done(tasks[0].id, Source::Link, start + days(4)).await.unwrap();
    let now = start + days(12);
    let report = |at| nurture::report::build(w.engine.defs(), w.store(), None, chrono::DateTime::UNIX_EPOCH, at);
    let before = report(now).await.unwrap();

    // A cut-off after the first emails and tasks, before the last ones.
    let expired = w.store().expire(start + days(5)).await.unwrap();
    assert_eq!(expired.get("deliveries"), Some(&4), "the two his and the two calls: {expired:?}");
    assert_eq!(expired.get("tasks"), Some(&1), "the done task; the open one keeps its text: {expired:?}");
    assert!(expired.get("history").is_some_and(|n| *n >= 1), "{expired:?}");
    let subjects = w.scalar("SELECT COUNT(*) FROM deliveries WHERE subject LIKE $1", "Hi %".to_string()).await;
    assert_eq!(subjects, 0, "no rendered subject older than the cut-off");
    assert_eq!(w.scalar("SELECT COUNT(*) FROM deliveries WHERE subject = $1", "Again".to_string()).await, 2);
    assert_eq!(report(now).await.unwrap(), before, "report counts the same");
    assert!(w.store().expire(start + days(5)).await.unwrap().is_empty(), "a second run finds nothing");
    w.finish().await;
}
both!(retention_empties_old_text_and_keeps_the_counts);

async fn a_housekeeping_fire_runs_once_among_replicas(b: Backend) {
    let w = World::new(b, "[housekeeping]\nretention = \"30d\"\n", &[("c", CAMPAIGN)]).await;
    let (other, _) = w.replica().await;
    let fire = utc("2026-03-02T03:30:00Z");
    let (a, b2) = tokio::join!(
        housekeeping::fire(&w.engine, Job::Retention, fire, fire),
        housekeeping::fire(&other, Job::Retention, fire, fire + TimeDelta::milliseconds(40)),
    );
    if b == Backend::Postgres {
        assert_eq!(a.is_some() as u8 + b2.is_some() as u8, 1, "one of two replicas ran the fire: {a:?} {b2:?}");
    }
    assert!(
        housekeeping::fire(&w.engine, Job::Retention, fire, fire + TimeDelta::seconds(5)).await.is_none(),
        "not twice"
    );
    let next = fire + days(1);
    let ran = housekeeping::fire(&other, Job::Retention, next, next).await.expect("the next fire runs");
    assert!(ran.ok && ran.detail.starts_with("nothing older than 2026-02-01"), "{ran:?}");
    let last = housekeeping::last_runs(w.store()).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!((last[0].job, last[0].at, last[0].ok), ("retention", next, true));
    // A backup on PostgreSQL fails (pg_dump's job), is recorded, and stops nothing.
    if b == Backend::Postgres {
        let failed = housekeeping::fire(&w.engine, Job::Backup, next, next).await.unwrap();
        assert!(!failed.ok && failed.detail.contains("pg_dump"), "{failed:?}");
        let runs = housekeeping::last_runs(w.store()).await.unwrap();
        assert!(runs.iter().any(|r| r.job == "backup" && !r.ok), "{runs:?}");
    }
    w.finish().await;
}
both!(a_housekeeping_fire_runs_once_among_replicas);
