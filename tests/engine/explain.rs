//! `explain`: one case per rule that keeps a lead out (status,
//! lost_reason, min_age with the date it enters, max_age, an attribute,
//! suppression, a campaign gone through once, again_after with its date, a
//! paused campaign, a disabled one), and for enrolled leads the time its
//! next step goes, which must be the time the engine then sends it: for
//! 200 leads of random ages, zones and histories.

use chrono::TimeDelta;
use nurture::engine::events::Kind;
use nurture::store::Source;

use crate::helpers::{Backend, World, both, days, utc};

const NURTURE: &str = "[audience]\nstatus = [\"nurturing\"]\nmin_age = \"3d\"\n[audience.attributes]\nregion = [\"emea\"]\n\
                       [enrol]\ncron = \"0 8 * * *\"\n[window]\ndays = [\"Tue\", \"Wed\", \"Thu\"]\nhours = \"09:00-17:00\"\n\
                       timezone = \"lead\"\n\
                       [[step]]\nid = \"e1\"\nemail = \"t\"\nsubject = \"One\"\n\
                       [[step]]\nid = \"e2\"\nafter = \"2d\"\nemail = \"t\"\nsubject = \"Two\"\n\
                       [[step]]\nid = \"e3\"\nafter = \"1d\"\nemail = \"t\"\nsubject = \"Three\"\n";
const WINBACK: &str = "[audience]\nstatus = [\"lost\"]\n[enrol]\ncron = \"0 8 * * *\"\n\
                       [[step]]\nid = \"w1\"\nemail = \"t\"\nsubject = \"Back?\"\n";

fn why(e: &nurture::engine::Explanation, campaign: &str) -> String {
    let c = e.campaigns.iter().find(|c| c.campaign == campaign).unwrap();
    format!("{}: {}", c.state, c.why.join(" | "))
}

async fn each_rule_that_keeps_a_lead_out_is_named(b: Backend) {
    let w = World::new(b, "[policy]\nmin_gap = \"1d\"\n", &[("nurture", NURTURE), ("winback", WINBACK)]).await;
    let start = utc("2026-03-02T00:00:00Z"); // a Monday
    w.import(
        "email,status,status_changed_at,region\n\
         new@x.test,new,2026-03-01T00:00:00Z,emea\n\
         young@x.test,nurturing,2026-03-01T00:00:00Z,emea\n\
         apac@x.test,nurturing,2026-01-01T00:00:00Z,apac\n\
         gone@x.test,nurturing,2026-01-01T00:00:00Z,emea\n\
         lost@x.test,lost,2026-01-01T00:00:00Z,emea\n",
        start,
    )
    .await;
    w.engine.suppress("gone@x.test", "asked", Source::Cli, start).await.unwrap();
    let engine = &w.engine;
    let e = |email: &'static str| async move { engine.explain(email, None, start).await.unwrap().unwrap() };
    assert!(why(&e("new@x.test").await, "nurture").contains("status new is not in the audience (nurturing)"));
    let young = e("young@x.test").await;
    let s = why(&young, "nurture");
    assert!(s.contains("min_age: the status is too recent until 2026-03-04T00:00:00Z"), "{s}");
    assert!(s.contains("enters at the first sweep after that: 2026-03-04T08:00:00Z"), "{s}");
    let s = why(&e("apac@x.test").await, "nurture");
    assert!(s.contains("attribute region is \"apac\", not one of emea"), "{s}");
    assert!(why(&e("gone@x.test").await, "nurture").contains("the address is suppressed"));
    let s = why(&e("lost@x.test").await, "winback");
    assert!(s.starts_with("enters: matches the audience: the next sweep enrols it at 2026-03-02T08:00:00Z"), "{s}");

    w.run(start, start + days(2)).await;
    let s = why(&w.engine.explain("lost@x.test", None, start + days(2)).await.unwrap().unwrap(), "winback");
    assert!(s.contains("went through it: ended") && s.contains("without again_after a lead enters once"), "{s}");
    w.engine.pause("winback", "checking the list", "hand", start + days(2)).await.unwrap();
    let s = why(&w.engine.explain("lost@x.test", None, start + days(2)).await.unwrap().unwrap(), "winback");
    assert!(s.contains("the campaign is paused since") && s.contains("campaigns resume winback"), "{s}");
    w.finish().await;
}
both!(each_rule_that_keeps_a_lead_out_is_named);

async fn the_next_step_goes_when_explain_says(b: Backend) {
    let w = World::new(b, "[policy]\nmax_emails = 2\nper = \"7d\"\nmin_gap = \"1d\"\n", &[("nurture", NURTURE)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    let zones = ["Europe/Lisbon", "America/New_York", "Asia/Tokyo", "Australia/Sydney", ""];
    let mut csv = String::from("email,status,status_changed_at,region,timezone\n");
    // A fixed pseudo-random spread: ages from 0 to 9 days, five zones.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..200 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let age = TimeDelta::minutes((seed >> 33) as i64 % (9 * 24 * 60));
        let zone = zones[(seed >> 20) as usize % zones.len()];
        csv += &format!("l{i}@x.test,nurturing,{},emea,{zone}\n", (start - age).to_rfc3339());
    }
    w.import(&csv, start).await;
    let checkpoint = start + days(5) + TimeDelta::hours(13);
    w.run(start, checkpoint).await;
    // Some leads are away until mid-month.
    for i in (0..200).step_by(7) {
        let away = format!(
            "From: l{i}@x.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <o{i}@x.test>\r\n\r\n\
             Back on 12 March.\r\n"
        );
        w.engine.inbound(away.as_bytes(), checkpoint).await.unwrap();
    }
    let mut predicted = Vec::new();
    for i in 0..200 {
        let email = format!("l{i}@x.test");
        let e = w.engine.explain(&email, Some("nurture"), checkpoint).await.unwrap().unwrap();
        let c = &e.campaigns[0];
        if let (Some(step), Some(goes)) = (&c.next_step, &c.goes_at) {
            predicted.push((email, step.clone(), goes.clone()));
        }
    }
    assert!(predicted.len() > 100, "most leads are enrolled: {}", predicted.len());
    let away = w.engine.explain("l0@x.test", Some("nurture"), checkpoint).await.unwrap().unwrap();
    assert!(
        away.campaigns[0].why.iter().any(|w| w.starts_with("out of office until 2026-03-12T00:00:00")),
        "{:?}",
        away.campaigns[0]
    );
    w.run(checkpoint, checkpoint + days(30)).await;
    let emails = w.events(Kind::Email);
    let mut wrong = Vec::new();
    for (email, step, goes) in &predicted {
        let actual = emails
            .iter()
            .find(|e| e.lead.as_deref() == Some(email) && e.step.as_deref() == Some(step) && e.at >= checkpoint)
            .map(|e| nurture::template::context::rfc3339(e.at));
        if actual.as_deref() != Some(goes) {
            wrong.push(format!("{email} {step}: explain said {goes}, sent {actual:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {}:\n{}", wrong.len(), predicted.len(), wrong.join("\n"));
    w.finish().await;
}
both!(the_next_step_goes_when_explain_says);

const REQUALIFY: &str = "[audience]\nstatus = [\"lost\"]\nlost_reason = [\"budget\"]\nmax_age = \"30d\"\n\
                         [enrol]\ncron = \"0 8 * * *\"\nagain_after = \"10d\"\n\
                         [[step]]\nid = \"ask\"\nemail = \"t\"\nsubject = \"Still?\"\n";
const OFF: &str = "enabled = false\n[audience]\nstatus = [\"lost\"]\n[enrol]\ncron = \"0 8 * * *\"\n\
                   [[step]]\nid = \"x\"\nemail = \"t\"\nsubject = \"X\"\n";

async fn lost_reason_max_age_again_after_and_a_disabled_campaign_are_named(b: Backend) {
    let w = World::new(b, "", &[("requalify", REQUALIFY), ("off", OFF)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(
        "email,status,status_changed_at,lost_reason\n\
         price@x.test,lost,2026-02-25T00:00:00Z,price\n\
         old@x.test,lost,2026-01-01T00:00:00Z,budget\n\
         back@x.test,lost,2026-02-25T00:00:00Z,budget\n",
        start,
    )
    .await;
    let at = start + days(1);
    w.run(start, at).await; // back@ enrols at 08:00 and gets its one email
    let engine = &w.engine;
    let e = |email: &'static str| async move { engine.explain(email, None, at).await.unwrap().unwrap() };
    let s = why(&e("price@x.test").await, "requalify");
    assert!(s.contains("lost_reason \"price\" is not one of the audience's (budget)"), "{s}");
    let s = why(&e("old@x.test").await, "requalify");
    assert!(s.contains("max_age: the status is too old since 2026-01-31T00:00:00Z"), "{s}");
    let s = why(&e("back@x.test").await, "requalify");
    assert!(s.contains("went through it: ended 2026-03-02T08:00:00Z"), "{s}");
    assert!(s.contains("again_after lets it back from 2026-03-12T08:00:00Z"), "{s}");
    let back = e("back@x.test").await;
    let c = back.campaigns.iter().find(|c| c.campaign == "requalify").unwrap();
    assert_eq!(c.until.as_deref(), Some("2026-03-12T08:00:00Z"), "the sweep that lets it back");
    let s = why(&back, "off");
    assert!(s.contains("the campaign is disabled (enabled = false)"), "{s}");
    w.finish().await;
}
both!(lost_reason_max_age_again_after_and_a_disabled_campaign_are_named);
