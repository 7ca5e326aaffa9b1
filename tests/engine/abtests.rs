//! A/B tests on the engine (README, *A/B tests*): each lead gets the
//! variant its hash picks, the variant is stored with the delivery, a
//! variant that draws every reply wins at the first look, later leads get
//! it, and a winner set by hand holds the same way.

use nurture::abtest::assign::{pick, point};
use nurture::engine::events::Kind;

use crate::helpers::{Backend, World, both, days, utc};

const CAMPAIGN: &str = "name = \"Value\"\n[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
    [[step]]\nid = \"value\"\nemail = \"t\"\nsubject = \"Plain\"\n\
    [[step.variant]]\nid = \"a\"\nsubject = \"Subject A\"\n\
    [[step.variant]]\nid = \"b\"\nsubject = \"Subject B\"\n\
    [step.test]\nmetric = \"replied\"\nmin_sample = 60\nconfidence = 0.95\n\
    [[step]]\nid = \"later\"\nafter = \"30d\"\nemail = \"t\"\nsubject = \"Later\"\n";

/// The subject the hash gives `email` (weights 1 and 1).
fn expected_subject(email: &str) -> &'static str {
    ["Subject A", "Subject B"][pick(&[1.0, 1.0], point(email, "value", "value"))]
}

async fn replies_to_one_variant_make_it_the_winner(b: Backend) {
    let config = "[policy]\nmin_gap = \"0s\"\n[guardrails]\nnotify = \"ops@s.test\"\n";
    let w = World::new(b, config, &[("value", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import_nurturing(200, start).await;
    w.run(start, start + days(1)).await;
    let sent = w.rec.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 200);
    for m in &sent {
        assert_eq!(m.subject, expected_subject(&m.to), "{} gets its hash's variant", m.to);
    }
    let to_b: Vec<_> = sent.iter().filter(|m| m.subject == "Subject B").collect();
    assert!(to_b.len() > 60 && to_b.len() < 140, "{} of 200 sent b", to_b.len());
    let stored = w.scalar("SELECT COUNT(*) FROM deliveries WHERE variant = $1", "b").await;
    assert_eq!(stored, to_b.len() as i64, "the variant is stored with each delivery");
    let view = w.engine.lead_view(&to_b[0].to, start + days(1)).await.unwrap().unwrap();
    assert!(view.text().contains("value/value (variant b)"), "the history names the variant: {}", view.text());
    let emails = w.events(Kind::Email);
    assert!(emails.iter().all(|e| e.variant.as_deref().is_some_and(|v| v == "a" || v == "b")));

    // Every lead sent b replies; nobody sent a does.
    let replied_at = start + days(1);
    for (i, m) in to_b.iter().enumerate() {
        let reply = format!(
            "From: {}\r\nSubject: Re: {}\r\nMessage-ID: <r{i}@x.test>\r\nIn-Reply-To: {}\r\n\r\nTell me more.\r\n",
            m.to,
            m.subject,
            m.message_id.clone().unwrap()
        );
        w.engine.inbound(reply.as_bytes(), replied_at).await.unwrap();
    }
    assert!(w.events(Kind::Winner).is_empty(), "no look before the tick");
    w.run(replied_at, start + days(2)).await;
    let won = w.events(Kind::Winner);
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!((won[0].step.as_deref(), won[0].variant.as_deref()), (Some("value"), Some("b")));
    assert!(won[0].reason.as_deref().unwrap().contains("look 1"), "{:?}", won[0].reason);
    let told: Vec<_> = w.rec.sent.lock().unwrap().iter().filter(|m| m.to == "ops@s.test").cloned().collect();
    assert_eq!(told.len(), 1, "guardrails.notify hears of the winner once");
    assert_eq!(told[0].subject, "nurture: variant b won the test of value/value");
    assert!(told[0].text.contains("replied: a 0/"), "{}", told[0].text);
    let tests = w.store().step_tests().await.unwrap();
    assert_eq!(tests.len(), 1);
    assert_eq!(
        (tests[0].winner.as_deref(), tests[0].looks, tests[0].decided_by.as_deref()),
        (Some("b"), 1, Some("test"))
    );
    assert!(tests[0].chance.unwrap() > 0.99);

    // Later leads all get b, whatever their hash says.
    let later = start + days(2);
    let csv: String = (0..20).map(|i| format!("new{i}@x.test,nurturing\n")).collect();
    w.import(&format!("email,status\n{csv}"), later).await;
    w.run(later, later + days(1)).await;
    let sent = w.rec.sent.lock().unwrap().clone();
    let new: Vec<_> = sent.iter().filter(|m| m.to.starts_with("new")).collect();
    assert_eq!(new.len(), 20);
    assert!(new.iter().any(|m| expected_subject(&m.to) == "Subject A"), "some would have had a");
    assert!(new.iter().all(|m| m.subject == "Subject B"), "every later lead gets the winner");

    // The report: per variant sent, replies, rate with its interval, the
    // chance to be best, the winner and when.
    let now = later + days(3);
    let r = nurture::report::build(w.engine.defs(), w.store(), None, chrono::DateTime::UNIX_EPOCH, now).await.unwrap();
    let t = r.campaigns[0].steps[0].test.clone().expect("a test report");
    assert_eq!((t.metric.as_str(), t.winner.as_deref(), t.decided_by.as_deref()), ("replied", Some("b"), Some("test")));
    let (a, bb) = (&t.variants[0], &t.variants[1]);
    assert_eq!((a.variant.as_str(), a.hits, bb.variant.as_str()), ("a", 0, "b"));
    assert_eq!(bb.sent, to_b.len() as u64 + 20, "the later leads' b emails count too");
    assert_eq!(bb.hits, to_b.len() as u64);
    assert!(bb.chance > 0.99 && bb.low.unwrap() > 0.5 && a.high.unwrap() < 0.05, "{t:?}");
    let text = r.text();
    assert!(text.contains("step value: test by replied, 60 leads each, confidence 0.95; winner b since"), "{text}");
    assert!(text.contains("b (winner)"), "{text}");
    w.finish().await;
}
both!(replies_to_one_variant_make_it_the_winner);

async fn a_winner_set_by_hand_holds_and_no_test_overrides_it(b: Backend) {
    // Sent from 10:00: enrolled at 09:00, each lead waits an hour first.
    let windowed = CAMPAIGN.replacen("[[step]]", "[window]\nhours = \"10:00-17:00\"\n[[step]]", 1);
    let w = World::new(b, "[policy]\nmin_gap = \"0s\"\n", &[("value", &windowed)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    let c = w.engine.defs().campaign("value").unwrap().clone();
    w.engine.set_winner(&c, &c.steps[0], "a", start).await.unwrap();
    w.import_nurturing(150, start).await;
    let waiting = start + chrono::TimeDelta::minutes(9 * 60 + 30);
    w.run(start, waiting).await;
    let b_by_hash = (0..150).map(|i| format!("l{i}@x.test")).find(|e| expected_subject(e) == "Subject B").unwrap();
    let explained = w.engine.explain(&b_by_hash, None, waiting).await.unwrap().unwrap().text();
    assert!(explained.contains("goes out as variant a: the A/B test's winner"), "{explained}");
    w.run(waiting, start + days(3)).await;
    let sent = w.rec.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 150);
    assert!(sent.iter().all(|m| m.subject == "Subject A"));
    let tests = w.store().step_tests().await.unwrap();
    assert_eq!(
        (tests[0].winner.as_deref(), tests[0].decided_by.as_deref(), tests[0].looks),
        (Some("a"), Some("hand"), 0)
    );
    // A test's late winner does not replace the one set by hand.
    assert!(!w.store().set_winner("value", "value", "b", Some(0.99), start + days(3)).await.unwrap());
    w.finish().await;
}
both!(a_winner_set_by_hand_holds_and_no_test_overrides_it);

/// Each metric's query on both databases: a conversion (a goal status
/// entered after the email) counts for `converted` within the window, and
/// nothing is counted for clicks or hand-offs that did not happen.
async fn every_metric_is_counted_after_the_email(b: Backend) {
    use nurture::abtest::Metric;
    let w = World::new(b, "[policy]\nmin_gap = \"0s\"\n", &[("value", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import_nurturing(30, start).await;
    w.run(start, start + days(1)).await;
    let won = start + days(1);
    for lead in ["l0@x.test", "l1@x.test"] {
        w.engine.set_status(lead, "won", None, nurture::store::Source::Api, won).await.unwrap();
    }
    let goal = w.engine.defs().config.report.goal.clone();
    let step = &w.engine.defs().campaign("value").unwrap().steps[0];
    let window = w.engine.defs().config.report.window;
    for (metric, hits) in [(Metric::Converted, 2), (Metric::Clicked, 0), (Metric::Handoff, 0), (Metric::Replied, 0)] {
        let sent = w.store().sent_variants("value", "value", metric, &goal).await.unwrap();
        assert_eq!(sent.len(), 30, "{metric:?}");
        let t = nurture::engine::abtests::tallies(step, &sent, window, won + days(1));
        assert_eq!(t.iter().map(|t| t.sent).sum::<u64>(), 30, "{metric:?}");
        assert_eq!(t.iter().map(|t| t.hits).sum::<u64>(), hits, "{metric:?}");
    }
    // Before the email is a day old it is not in the sample yet.
    let sent = w.store().sent_variants("value", "value", Metric::Converted, &goal).await.unwrap();
    assert_eq!(nurture::engine::abtests::tallies(step, &sent, window, won).iter().map(|t| t.sent).sum::<u64>(), 0);
    w.finish().await;
}
both!(every_metric_is_counted_after_the_email);
