use nurture::engine::events::Kind as Ev;
use nurture::mail::SendError;
use nurture::store::Kind;

use crate::helpers::{Backend, World, both, days, utc};

fn drip(id: &str, gaps: &[&str]) -> String {
    let mut s = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n".to_string();
    for (i, g) in gaps.iter().enumerate() {
        s += &format!("[[step]]\nid = \"{id}{i}\"\nafter = \"{g}\"\nemail = \"t\"\nsubject = \"s\"\n");
    }
    s
}

const ONE: &str = "email,first_name,status\nana@x.test,Ana,nurturing\n";

async fn caps_delay_emails_across_campaigns_but_never_drop_them(b: Backend) {
    let config = "[policy]\nmax_emails = 2\nper = \"7d\"\nmin_gap = \"1d\"\n";
    let w = World::new(b, config, &[("a", &drip("a", &["0d", "1h", "1h"])), ("b", &drip("b", &["0d", "2h"]))]).await;
    let start = utc("2026-03-01T00:00:00Z");
    w.import(ONE, start).await;
    w.run(start, start + days(30)).await;
    let mut at: Vec<_> = w.events(Ev::Email).into_iter().map(|e| e.at).collect();
    at.sort();
    assert_eq!(at.len(), 5, "all five steps are sent eventually");
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= days(1), "min_gap broken: {at:?}");
    }
    for three in at.windows(3) {
        assert!(three[2] - three[0] >= days(7), "more than 2 in 7 days: {at:?}");
    }
    assert_eq!(at[0], utc("2026-03-01T09:00:00Z"));
    assert_eq!(at[1], utc("2026-03-02T09:00:00Z"), "the second is pushed by min_gap only");
    w.finish().await;
}
both!(caps_delay_emails_across_campaigns_but_never_drop_them);

async fn a_step_attempted_before_is_never_repeated(b: Backend) {
    let w = World::new(b, "", &[("a", &drip("a", &["0d", "1d"]))]).await;
    let start = utc("2026-03-01T00:00:00Z");
    w.import(ONE, start).await;
    w.run(start, utc("2026-03-01T08:00:00Z")).await;
    // The sweep at 09:00 enrols; fake a crash after the attempt was recorded.
    let nine = utc("2026-03-01T09:00:00Z");
    let lead = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap();
    let c = w.engine.defs().campaign("a").unwrap().clone();
    w.store().enrol("a", lead.id, "a0", nine, nine).await.unwrap();
    let due = w.store().active_enrolments(lead.id).await.unwrap().remove(0);
    assert!(w.store().begin_delivery(&due, Kind::Email, nine).await.unwrap().is_some());
    assert!(w.store().begin_delivery(&due, Kind::Email, nine).await.unwrap().is_none(), "second attempt refused");
    w.run(nine, nine + days(3)).await;
    let sent: Vec<_> = w.rec.sent.lock().unwrap().iter().map(|m| m.subject.clone()).collect();
    assert_eq!(sent.len(), 1, "only a1 goes out; a0 is uncertain, not resent");
    let report = w.store().status(nine + days(3)).await.unwrap();
    assert_eq!((report.total["uncertain"], report.total["sent"]), (1, 1));
    assert_eq!(c.steps.len(), 2);
    w.finish().await;
}
both!(a_step_attempted_before_is_never_repeated);

async fn temporary_failures_retry_on_schedule(b: Backend) {
    let config = "[policy]\nretry = [\"1m\", \"5m\"]\n";
    let w = World::new(b, config, &[("a", &drip("a", &["0d"]))]).await;
    let start = utc("2026-03-01T00:00:00Z");
    w.import(ONE, start).await;
    w.rec.failures.lock().unwrap().extend([SendError::Retry("421 busy".into()), SendError::Retry("421 busy".into())]);
    w.run(start, start + days(1)).await;
    let email = w.events(Ev::Email);
    assert_eq!(email.len(), 1);
    assert_eq!(email[0].at, utc("2026-03-01T09:06:00Z"), "09:00 fails, +1m fails, +5m succeeds");
    w.finish().await;
}
both!(temporary_failures_retry_on_schedule);

async fn retries_exhausted_fail_the_step_and_bounces_suppress(b: Backend) {
    let config = "[policy]\nretry = [\"1m\"]\n";
    let w = World::new(b, config, &[("a", &drip("a", &["0d", "1d"])), ("z", &drip("z", &["3d"]))]).await;
    let start = utc("2026-03-01T00:00:00Z");
    w.import("email,status\nana@x.test,nurturing\nbo@x.test,nurturing\n", start).await;
    w.rec.failures.lock().unwrap().extend([
        SendError::Retry("421".into()),
        SendError::Bounce("550 5.1.1 no such user".into()),
        SendError::Retry("421".into()),
    ]);
    w.run(start, start + days(3)).await;
    assert!(w.store().is_suppressed("bo@x.test").await.unwrap(), "the bounced address is suppressed");
    let exits: Vec<(String, String)> = w
        .events(Ev::Exited)
        .into_iter()
        .filter(|e| e.lead.as_deref() == Some("bo@x.test"))
        .map(|e| (e.campaign.unwrap(), e.reason.unwrap()))
        .collect();
    assert_eq!(exits, [("a".to_string(), "bounced".to_string()), ("z".to_string(), "suppressed".to_string())]);
    assert!(
        w.events(Ev::Exited).iter().any(|e| e.lead.as_deref() == Some("bo@x.test")
            && e.at == utc("2026-03-01T09:00:00Z")
            && e.campaign.as_deref() == Some("z")),
        "the other campaign ends at the bounce, not at its own next step"
    );
    let skipped: Vec<String> = w.events(Ev::Skipped).into_iter().map(|e| e.reason.unwrap()).collect();
    assert!(skipped.iter().any(|r| r.starts_with("bounced: 550")), "{skipped:?}");
    assert!(skipped.iter().any(|r| r.starts_with("failed: gave up after 2 attempts")), "{skipped:?}");
    let report = w.store().status(start + days(3)).await.unwrap();
    assert_eq!(report.total["bounced"], 1);
    assert_eq!(report.total["failed"], 1);
    assert_eq!(report.total["sent"], 1, "ana's second step still goes out after the failed first");
    w.finish().await;
}
both!(retries_exhausted_fail_the_step_and_bounces_suppress);

/// Each lead's marketing email times, in order.
fn emails_by_lead(w: &World) -> std::collections::BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> {
    let mut by_lead: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for e in w.events(Ev::Email) {
        by_lead.entry(e.lead.unwrap()).or_default().push(e.at);
    }
    by_lead.values_mut().for_each(|at| at.sort());
    by_lead
}

async fn concurrent_senders_keep_each_leads_caps(b: Backend) {
    let config = "[policy]\nmax_emails = 2\nper = \"7d\"\nmin_gap = \"1d\"\n";
    let w = World::new(b, config, &[("a", &drip("a", &["0d", "1h"])), ("b", &drip("b", &["0d", "2h"]))]).await;
    let w = w.with_concurrency(8);
    let start = utc("2026-03-01T00:00:00Z");
    w.import_nurturing(2, start).await;
    w.run(start, start + days(30)).await;
    let by_lead = emails_by_lead(&w);
    assert_eq!(by_lead.len(), 2);
    for (lead, at) in by_lead {
        assert_eq!(at.len(), 4, "{lead}: every step sent");
        assert!(at.windows(2).all(|p| p[1] - p[0] >= days(1)), "{lead}: min_gap broken {at:?}");
        assert!(at.windows(3).all(|t| t[2] - t[0] >= days(7)), "{lead}: cap broken {at:?}");
    }
    w.finish().await;
}
both!(concurrent_senders_keep_each_leads_caps);

/// Ten leads in twelve campaigns each, due at once: 240 steps through
/// batches of 32 (pool 2), the next fetched while the last leads of one
/// still send. A lead in hand is left out of the next batch, so its steps
/// never run side by side (each would pass the caps unaware of the
/// other's send): `min_gap` holds between every two of a lead's emails.
async fn batches_fetched_early_never_run_one_leads_steps_at_once(b: Backend) {
    let config = "[policy]\nmax_emails = 100\nper = \"7d\"\nmin_gap = \"1h\"\n";
    let ids: Vec<String> = (0..12).map(|i| format!("c{i:02}")).collect();
    let defs: Vec<String> = ids.iter().map(|id| drip(id, &["0d", "0d"])).collect();
    let campaigns: Vec<(&str, &str)> = ids.iter().map(String::as_str).zip(defs.iter().map(String::as_str)).collect();
    let w = World::new(b, config, &campaigns).await.with_concurrency(2);
    let start = utc("2026-03-01T00:00:00Z");
    w.import_nurturing(10, start).await;
    w.run(start, start + days(3)).await;
    let by_lead = emails_by_lead(&w);
    assert_eq!(by_lead.len(), 10);
    for (lead, at) in by_lead {
        assert_eq!(at.len(), 24, "{lead}: every step sent once");
        assert!(at.windows(2).all(|p| p[1] - p[0] >= chrono::TimeDelta::hours(1)), "{lead}: min_gap broken {at:?}");
    }
    w.finish().await;
}
both!(batches_fetched_early_never_run_one_leads_steps_at_once);

/// The clock jumps forward three days, then back two, then on: each step
/// due during a jump runs once, and going back repeats nothing.
async fn clock_jumps_run_each_due_step_once(b: Backend) {
    let config = "[policy]\nmax_emails = 10\nper = \"1d\"\nmin_gap = \"0s\"\n";
    let w = World::new(b, config, &[("a", &drip("a", &["0d", "1h", "1d", "1d"]))]).await;
    let start = utc("2026-03-01T00:00:00Z");
    w.import("email,status\nana@x.test,nurturing\nbo@x.test,nurturing\n", start).await;
    for t in ["2026-03-01T00:00:00Z", "2026-03-01T09:00:00Z", "2026-03-04T12:00:00Z", "2026-03-02T12:00:00Z"] {
        w.engine.tick(utc(t)).await.unwrap();
    }
    w.run(utc("2026-03-04T12:00:00Z"), utc("2026-03-10T00:00:00Z")).await;
    let mut sent: Vec<(String, String)> =
        w.events(Ev::Email).into_iter().map(|e| (e.lead.unwrap(), e.step.unwrap())).collect();
    sent.sort();
    let mut want: Vec<(String, String)> = Vec::new();
    for lead in ["ana@x.test", "bo@x.test"] {
        for step in ["a0", "a1", "a2", "a3"] {
            want.push((lead.to_string(), step.to_string()));
        }
    }
    assert_eq!(sent, want, "every step once, none repeated after the clock went back");
    let report = w.store().status(utc("2026-03-10T00:00:00Z")).await.unwrap();
    assert_eq!((report.total["sent"], report.total["uncertain"]), (8, 0));
    w.finish().await;
}
both!(clock_jumps_run_each_due_step_once);
