//! Guardrails: a campaign whose bounce rate passes the limit pauses
//! itself, a refusal of our sending pauses all of it; nothing is attempted
//! while paused, ops are told once, and after the resume every step that
//! waited goes out once.

use nurture::engine::events::Kind as Ev;
use nurture::store::pauses::ALL;

use crate::helpers::{Backend, World, both, days, utc};

const CONFIG: &str = "[guardrails]\nmax_bounce_rate = 0.1\nmin_sample = 10\nwindow = \"1d\"\nnotify = \"ops@ops.test\"\n\
                      [policy]\nmax_emails = 5\nper = \"1d\"\nmin_gap = \"0s\"\n";

fn one_email(status: &str) -> String {
    format!(
        "[audience]\nstatus = [\"{status}\"]\n[enrol]\ncron = \"0 9 * * *\"\n[[step]]\nid = \"hi\"\nemail = \"t\"\nsubject = \"hi\"\n"
    )
}

/// `n` leads of `status`, named `{prefix}{i}@x.test`, as CSV rows.
fn leads(prefix: &str, n: usize, status: &str) -> String {
    (0..n).map(|i| format!("{prefix}{i}@x.test,{status}\n")).collect()
}

fn to_ops(w: &World) -> Vec<String> {
    w.rec.sent.lock().unwrap().iter().filter(|m| m.to == "ops@ops.test").map(|m| m.subject.clone()).collect()
}

/// Emails sent per lead: each must be 1.
fn sends_per_lead(w: &World) -> std::collections::HashMap<String, usize> {
    let mut n = std::collections::HashMap::new();
    for e in w.events(Ev::Email) {
        *n.entry(e.lead.unwrap()).or_insert(0) += 1;
    }
    n
}

async fn a_bounce_rate_past_the_limit_pauses_the_campaign_until_resumed(b: Backend) {
    let w = World::new(b, CONFIG, &[("c", &one_email("nurturing"))]).await;
    let start = utc("2026-03-02T00:00:00Z");
    // Eight good leads, then two that bounce (2 of 10: 20 %), then twenty.
    let csv = format!(
        "email,status\n{}{}{}",
        leads("a", 8, "nurturing"),
        leads("bounce", 2, "nurturing"),
        leads("z", 20, "nurturing")
    );
    w.import(&csv, start).await;
    w.rec.bounce.lock().unwrap().extend(["bounce0@x.test".to_string(), "bounce1@x.test".to_string()]);
    w.run(start, start + days(1)).await;

    let pauses = w.engine.pauses().await.unwrap();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!((pauses[0].scope.as_str(), pauses[0].by.as_str()), ("c", "guardrail"));
    assert!(pauses[0].reason.contains("bounce rate 20.0 %"), "{}", pauses[0].reason);
    assert_eq!(w.events(Ev::Email).len(), 8, "nothing sent after the pause");
    assert_eq!(to_ops(&w), ["nurture paused campaign c"], "ops told once");
    let report = w.store().status(start + days(1)).await.unwrap();
    assert_eq!(report.due_now, 20, "the rest wait, not attempted");

    // A second tick while paused attempts nothing either.
    w.run(start + days(1), start + days(2)).await;
    assert_eq!(w.events(Ev::Email).len(), 8);

    assert!(w.engine.resume("c").await.unwrap());
    w.run(start + days(2), start + days(3)).await;
    let sent = sends_per_lead(&w);
    assert_eq!(sent.len(), 28, "every good lead, after the resume");
    assert!(sent.values().all(|n| *n == 1), "each once: {sent:?}");
    assert!(w.engine.pauses().await.unwrap().is_empty(), "20 good sends kept the rate under the limit");
    w.finish().await;
}
both!(a_bounce_rate_past_the_limit_pauses_the_campaign_until_resumed);

async fn a_policy_refusal_pauses_all_sending_and_resume_all_sends_the_rest_once(b: Backend) {
    let campaigns = [("n", one_email("nurturing")), ("w", one_email("new"))];
    let campaigns: Vec<(&str, &str)> = campaigns.iter().map(|(id, t)| (*id, t.as_str())).collect();
    let w = World::new(b, CONFIG, &campaigns).await;
    let start = utc("2026-03-02T00:00:00Z");
    let csv = format!("email,status\n{}{}", leads("n", 10, "nurturing"), leads("w", 10, "new"));
    w.import(&csv, start).await;
    *w.rec.refuse_after.lock().unwrap() = Some(5);
    w.run(start, start + days(1)).await;

    let pauses = w.engine.pauses().await.unwrap();
    assert_eq!(pauses.iter().map(|p| p.scope.as_str()).collect::<Vec<_>>(), [ALL], "{pauses:?}");
    assert!(pauses[0].reason.contains("5.7.1"), "{}", pauses[0].reason);
    assert_eq!(w.events(Ev::Email).len(), 5, "nothing after the refusal");
    assert_eq!(to_ops(&w), ["nurture paused all sending"], "ops told once");
    assert_eq!(w.events(Ev::Skipped).len(), 0, "no step failed or bounced for it");

    *w.rec.refuse_after.lock().unwrap() = None;
    assert!(w.engine.resume(ALL).await.unwrap());
    w.run(start + days(1), start + days(2)).await;
    let sent = sends_per_lead(&w);
    assert_eq!(sent.len(), 20, "every lead of both campaigns");
    assert!(sent.values().all(|n| *n == 1), "each once: {sent:?}");
    w.finish().await;
}
both!(a_policy_refusal_pauses_all_sending_and_resume_all_sends_the_rest_once);

async fn a_campaign_paused_by_hand_holds_its_steps_and_not_the_others(b: Backend) {
    let campaigns = [("n", one_email("nurturing")), ("w", one_email("new"))];
    let campaigns: Vec<(&str, &str)> = campaigns.iter().map(|(id, t)| (*id, t.as_str())).collect();
    let w = World::new(b, CONFIG, &campaigns).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(&format!("email,status\n{}{}", leads("n", 3, "nurturing"), leads("w", 3, "new")), start).await;
    assert!(w.engine.pause("n", "paused by hand", "hand", start).await.unwrap());
    assert!(!w.engine.pause("n", "again", "hand", start).await.unwrap(), "once");
    w.run(start, start + days(1)).await;
    let campaigns: Vec<String> = w.events(Ev::Email).into_iter().filter_map(|e| e.campaign).collect();
    assert_eq!(campaigns, ["w", "w", "w"]);
    assert!(to_ops(&w).len() == 1, "ops are told of a pause by hand too");
    w.finish().await;
}
both!(a_campaign_paused_by_hand_holds_its_steps_and_not_the_others);

/// Strangers' sign-ups a CRM wrote straight into `leads`, with addresses
/// the mail library cannot put in a message: each is suppressed before any
/// send (the intake's rule, applied to the table), none counts as a
/// bounce, and the campaign goes on for everyone else. A message nurture
/// still cannot build fails its step, ours to fix, never a bounce.
async fn addresses_nurture_cannot_mail_never_pause_a_campaign(b: Backend) {
    let w = World::new(b, CONFIG, &[("c", &one_email("nurturing"))]).await;
    let start = utc("2026-03-02T00:00:00Z");
    for i in 0..16 {
        w.crm(&format!(
            "INSERT INTO leads (email, status, status_changed_at, created_at, updated_at) VALUES \
             ('\"hostile <{i}>\"@evil.example', 'nurturing', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', \
             '2026-03-01T00:00:00Z')"
        ))
        .await;
    }
    w.import(&format!("email,status\n{}", leads("a", 12, "nurturing")), start).await;
    // And three messages the mailer cannot build, as an older row could give.
    for _ in 0..3 {
        let why = "cannot build the message: recipient".to_string();
        w.rec.failures.lock().unwrap().push_back(nurture::mail::SendError::Unbuildable(why));
    }
    w.run(start, start + days(1)).await;

    assert!(w.engine.pauses().await.unwrap().is_empty(), "no guardrail counted them");
    assert_eq!(w.events(Ev::Email).len(), 9, "twelve leads less the three messages that could not be built");
    for i in 0..16 {
        let email = format!("\"hostile <{i}>\"@evil.example");
        assert!(w.store().is_suppressed(&email).await.unwrap(), "{email} is suppressed");
    }
    let suppressed = w.scalar("SELECT COUNT(*) FROM suppressions WHERE email LIKE $1", "a%@x.test").await;
    assert_eq!(suppressed, 0, "a message we could not build suppresses no lead");
    let failed = w.scalar("SELECT COUNT(*) FROM deliveries WHERE state = $1", "failed").await;
    assert_eq!(failed, 3, "each such step failed");
    w.finish().await;
}
both!(addresses_nurture_cannot_mail_never_pause_a_campaign);
