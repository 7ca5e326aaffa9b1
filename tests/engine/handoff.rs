//! Readiness and hand-off: a scanner's burst hands nothing over; a
//! person's click and a page view do, once, with the rep emailed at once
//! saying why; a replica looking at the same lead hands over nothing more;
//! a hand-off not done in time is escalated once; answers act once.

use chrono::TimeDelta;
use nurture::engine::{Answered, events::Kind};
use nurture::store::Click;

use crate::helpers::{Backend, World, both, utc};

const CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                        [[step]]\nid = \"hi\"\nemail = \"links\"\nsubject = \"Pricing for you\"\n";

const HTML: &str = "<p>Hi {{lead.first_name}}</p><a href=\"https://shop.test/pricing?a=1&amp;b=2\">Pricing</a> \
                    <a href=\"https://shop.test/guide\">Guide</a> <a href=\"{{answer_url \"ready\"}}\">Ready</a> \
                    <a href=\"{{answer_url \"later\"}}\">Later</a> <a href=\"{{answer_url \"not_interested\"}}\">No</a> <a href=\"{{unsubscribe_url}}\">Unsubscribe</a>";

const REPS: &str = "[[rep]]\nemail = \"r1@s.test\"\nname = \"Riley\"\ntimezone = \"Europe/Lisbon\"\n\
                    days = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\"]\nhours = \"09:00-12:30\"\n";

const CONFIG: &str = "[http]\npublic_url = \"https://n.test\"\n[reminders]\nreps_file = \"reps.toml\"\n[handoff]\nthreshold = 50\nescalate_to = \"boss@s.test\"\n";

async fn world(b: Backend) -> World {
    let files = [("templates/links.html.hbs", HTML), ("reps.toml", REPS)];
    let w = World::with_files(b, CONFIG, &[("c", CAMPAIGN)], &files).await;
    let start = utc("2026-03-02T08:00:00Z");
    w.import("email,first_name,status\nana@x.test,Ana,nurturing\nben@x.test,Ben,nurturing\n", start).await;
    w.run(start, start + TimeDelta::hours(2)).await;
    w
}

async fn click(w: &World, token: &str, at: chrono::DateTime<chrono::Utc>, head: bool) {
    let token = w.engine.links().click(token).expect("a signed token");
    let window = w.engine.defs().config.tracking.scanner_window;
    w.store().record_click(&Click { token, at, head }, window).await.unwrap();
}

fn sent_to(w: &World, to: &str) -> Vec<nurture::mail::Outgoing> {
    w.rec.sent.lock().unwrap().iter().filter(|m| m.to == to).cloned().collect()
}

async fn a_person_not_a_scanner_makes_a_lead_ready_once(b: Backend) {
    let w = world(b).await;
    let sent = utc("2026-03-02T09:00:00Z");
    let links = w.link_tokens("ana@x.test", "c");
    assert_eq!(links.len(), 3, "pricing, guide and the decoy: {links:?}");
    // The scanner: HEAD, then every link within a second, on delivery.
    click(&w, &links[0], sent + TimeDelta::seconds(3), true).await;
    for (i, l) in links.iter().enumerate() {
        click(&w, l, sent + TimeDelta::seconds(4) + TimeDelta::milliseconds(300 * i as i64), false).await;
    }
    w.run(sent + TimeDelta::seconds(5), sent + TimeDelta::hours(1)).await;
    assert!(w.events(Kind::Handoff).is_empty(), "a scanner's burst hands nothing over");

    // A person: the pricing link three hours later (35 points), then the
    // pricing page (25): 60 against a threshold of 50.
    let clicked = sent + TimeDelta::hours(3);
    click(&w, &links[0], clicked, false).await;
    w.run(clicked, clicked + TimeDelta::minutes(5)).await;
    assert!(w.events(Kind::Handoff).is_empty(), "35 points are not 50");
    let viewed = clicked + TimeDelta::minutes(5);
    w.engine.event("ana@x.test", "page_view", "pricing", viewed).await.unwrap();
    w.run(viewed, viewed + TimeDelta::minutes(1)).await;
    let handoffs = w.events(Kind::Handoff);
    assert_eq!(handoffs.len(), 1, "{handoffs:?}");
    assert_eq!(handoffs[0].at, viewed, "at the first instant the score reached the threshold");
    assert_eq!(handoffs[0].to.as_deref(), Some("r1@s.test"));
    assert_eq!((handoffs[0].campaign.as_deref(), handoffs[0].step.as_deref()), (Some("c"), Some("hi")));

    let lead = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap();
    assert_eq!((lead.status.as_str(), lead.owner.as_str()), ("sales_ready", "r1@s.test"));
    let tasks = w.store().open_tasks(Some("r1@s.test")).await.unwrap();
    assert_eq!(tasks.len(), 1);
    // Due in an hour of the rep's working hours: 25 minutes left today
    // (Lisbon, 12:05 of 09:00-12:30), 35 tomorrow.
    assert_eq!(tasks[0].due_at, utc("2026-03-03T09:35:00Z"));
    assert!(tasks[0].text.starts_with("Call Ana now: score 60"), "{}", tasks[0].text);
    let mail = sent_to(&w, "r1@s.test");
    assert_eq!(mail.len(), 1, "the rep is emailed at once");
    assert_eq!(mail[0].subject, "Ready now: Ana");
    for why in ["clicked https://shop.test/pricing?a=1&b=2", "page_view:pricing", "Pricing for you", "WET", "/t/"] {
        assert!(mail[0].text.contains(why), "{why:?} in:\n{}", mail[0].text);
    }
    assert!(!mail[0].text.contains("guide"), "a scanner's clicks are not a reason:\n{}", mail[0].text);

    // More clicks, and a replica looking at the same lead: no second hand-off.
    click(&w, &links[1], viewed + TimeDelta::minutes(10), false).await;
    let (replica, _) = w.replica().await;
    replica.run_virtual(viewed + TimeDelta::minutes(10), viewed + TimeDelta::minutes(30)).await.unwrap();
    w.run(viewed + TimeDelta::minutes(10), viewed + TimeDelta::minutes(30)).await;
    assert_eq!(w.scalar("SELECT COUNT(*) FROM handoffs WHERE lead_id = $1", lead.id).await, 1);
    assert_eq!(w.events(Kind::Handoff).len(), 1);
    assert!(w.events(Kind::Exited).iter().any(|e| e.lead.as_deref() == Some("ana@x.test")), "campaigns exited");

    // Not done two hours later: the escalation goes once.
    w.run(viewed + TimeDelta::minutes(30), viewed + TimeDelta::hours(5)).await;
    replica.run_virtual(viewed + TimeDelta::hours(2), viewed + TimeDelta::hours(5)).await.unwrap();
    assert_eq!(w.events(Kind::Escalated).len(), 1);
    let boss = sent_to(&w, "boss@s.test");
    assert_eq!(boss.len(), 1);
    assert!(boss[0].subject.starts_with("Not called yet: Ana"), "{}", boss[0].subject);

    // The report: which email made them ready, and the rep's speed to lead
    // (not done by its due time: 0 % in time).
    let end = viewed + TimeDelta::days(2);
    let r = nurture::report::build(w.engine.defs(), w.store(), None, chrono::DateTime::UNIX_EPOCH, end).await.unwrap();
    let step = &r.campaigns[0].steps[0];
    // Machines: the HEAD, the three GETs of the burst; people: pricing, then guide.
    assert_eq!((step.human_clicks, step.machine_clicks, step.handoffs, step.answers), (2, 4, 1, 0), "{step:?}");
    let rep = r.reps.iter().find(|r| r.rep == "r1@s.test").unwrap();
    assert_eq!((rep.handoffs, rep.handoff_median_done_s, rep.handoffs_done_in_time), (1, None, Some(0.0)));
    let task = w.store().open_tasks(Some("r1@s.test")).await.unwrap()[0].id;
    w.engine.task_done(task, nurture::store::Source::Link, viewed + TimeDelta::minutes(20)).await.unwrap();
    let r = nurture::report::build(w.engine.defs(), w.store(), None, chrono::DateTime::UNIX_EPOCH, end).await.unwrap();
    let rep = r.reps.iter().find(|r| r.rep == "r1@s.test").unwrap();
    assert_eq!((rep.handoff_median_done_s, rep.handoffs_done_in_time), (Some(1200), Some(1.0)));
    assert!(r.text().contains("in time"), "{}", r.text());

    // The score says what made it, as `leads show` and `explain` give it.
    let view = w.engine.lead_view("ana@x.test", viewed).await.unwrap().unwrap();
    let shown = view.text();
    assert!(shown.contains("a machine's click (head)") || shown.contains("counted since the last hand-off"), "{shown}");
    w.finish().await;
}
both!(a_person_not_a_scanner_makes_a_lead_ready_once);

async fn answers_act_once_and_a_get_changes_nothing(b: Backend) {
    let w = world(b).await;
    let at = utc("2026-03-03T10:00:00Z");
    let ana = w.link_tokens("ana@x.test", "a");
    assert_eq!(ana.len(), 3, "{ana:?}");
    let token = |t: &str| w.engine.links().answer(t).expect("a signed answer");
    assert_eq!(token(&ana[0]).answer, "ready");
    assert!(w.engine.links().click(&ana[0]).is_none(), "an answer link is not a tracked link");

    match w.engine.answer(&token(&ana[0]), at).await.unwrap() {
        Answered::Recorded(a) => assert_eq!(a.name, "ready"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.events(Kind::Handoff).len(), 1, "an answer asking for a rep hands over at once");
    assert_eq!(w.events(Kind::Handoff)[0].at, at);
    assert!(matches!(w.engine.answer(&token(&ana[0]), at).await.unwrap(), Answered::Again(_)));
    assert_eq!(w.events(Kind::Handoff).len(), 1);
    assert_eq!(sent_to(&w, "r1@s.test").len(), 1);
    assert!(sent_to(&w, "r1@s.test")[0].text.contains("answered \"ready\""));

    // Sent back to nurturing, Ana can be ready again: by new signals only
    // (the answer that handed her over is spent, and given once per email).
    let back = at + TimeDelta::days(1);
    w.engine.set_status("ana@x.test", "nurturing", None, nurture::store::Source::Cli, back).await.unwrap();
    let ana_id = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap().id;
    assert_eq!(w.engine.score(ana_id, back).await.unwrap().0.total, 0.0, "the hand-off spent what made it");
    w.engine.event("ana@x.test", "page_view", "pricing", back + TimeDelta::hours(1)).await.unwrap();
    w.run(back + TimeDelta::hours(1), back + TimeDelta::hours(2)).await;
    assert_eq!(w.events(Kind::Handoff).len(), 1, "25 points are not 50");
    // (The first has faded a little in the hour: two more make it.)
    for _ in 0..2 {
        w.engine.event("ana@x.test", "page_view", "pricing", back + TimeDelta::hours(2)).await.unwrap();
    }
    w.run(back + TimeDelta::hours(2), back + TimeDelta::hours(3)).await;
    let again = w.events(Kind::Handoff);
    assert_eq!(again.len(), 2, "ready again: {again:?}");
    assert_eq!(again[1].at, back + TimeDelta::hours(2));

    let ben = w.link_tokens("ben@x.test", "a");
    w.engine.answer(&token(&ben[1]), at).await.unwrap();
    let lead = w.store().lead_by_email("ben@x.test").await.unwrap().unwrap();
    assert_eq!(lead.paused_until, Some(at + TimeDelta::days(90)), "later: 90 days");
    assert_eq!(lead.status, "nurturing");
    w.engine.answer(&token(&ben[2]), at + TimeDelta::hours(1)).await.unwrap();
    let lead = w.store().lead_by_email("ben@x.test").await.unwrap().unwrap();
    assert_eq!((lead.status.as_str(), lead.lost_reason.as_str()), ("lost", "not interested"));
    assert_eq!(lead.paused_until, None, "a later answer replaces the earlier one's pause");
    assert_eq!(w.events(Kind::Handoff).len(), 2, "neither of Ben's answers asks for a rep");

    // A forgotten lead's answer stores nothing.
    w.engine.forget("ben@x.test", at + TimeDelta::hours(2)).await.unwrap();
    assert_eq!(w.engine.answer(&token(&ben[0]), at + TimeDelta::hours(3)).await.unwrap(), Answered::Unknown);
    w.finish().await;
}
both!(answers_act_once_and_a_get_changes_nothing);

/// One thing a lead does in the property below.
#[derive(Debug, Clone)]
enum Act {
    /// A click on link 0 (pricing), 1 (guide) or 2 (blog); `head`: a machine's.
    Click {
        link: usize,
        head: bool,
    },
    Event(&'static str, &'static str),
    Reply,
}

fn act() -> impl proptest::strategy::Strategy<Value = Act> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..3usize, proptest::bool::weighted(0.2)).prop_map(|(link, head)| Act::Click { link, head }),
        1 => Just(Act::Event("page_view", "pricing")),
        1 => Just(Act::Event("page_view", "blog")),
        1 => Just(Act::Event("form", "demo")),
        1 => Just(Act::Reply),
    ]
}

const PROP_CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                             [[step]]\nid = \"hi\"\nemail = \"three\"\nsubject = \"Three links\"\n";
const PROP_HTML: &str = "<a href=\"https://shop.test/pricing\">P</a> <a href=\"https://shop.test/guide\">G</a> \
                         <a href=\"https://shop.test/blog\">B</a> <a href=\"{{unsubscribe_url}}\">U</a>";
const PROP_CONFIG: &str = "[http]\npublic_url = \"https://n.test\"\n[reminders]\nreps_file = \"reps.toml\"\n\
                           [scoring]\nclick = 5\nreply = 20\nhalf_life = \"1d\"\n\
                           links = { \"*/pricing*\" = 30 }\nevents = { \"page_view:pricing\" = 25, \"form\" = 10 }\n\
                           [handoff]\nthreshold = 50\n";

/// The README's rules, recounted on their own: at instant `t`, every
/// signal counted by then (a click 2 s after it came, anything else at
/// once) adds its points halved for every day of its age; a machine's
/// click (a HEAD) adds nothing; a person's click adds 5, plus 30 on the
/// pricing link, once per link of the email; a reply 20; `page_view:pricing`
/// 25; any `form` event 10; other events nothing.
fn recount(acts: &[(i64, Act)], sent: chrono::DateTime<chrono::Utc>, t: chrono::DateTime<chrono::Utc>) -> f64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0.0;
    for (offset, a) in acts {
        let at = sent + TimeDelta::seconds(*offset);
        let (counts, points) = match a {
            Act::Click { head: true, .. } => (at + TimeDelta::seconds(2), 0.0),
            Act::Click { link, .. } if !seen.insert(*link) => (at + TimeDelta::seconds(2), 0.0),
            Act::Click { link, .. } => (at + TimeDelta::seconds(2), if *link == 0 { 35.0 } else { 5.0 }),
            Act::Event("page_view", "pricing") => (at, 25.0),
            Act::Event("form", _) => (at, 10.0),
            Act::Event(..) => (at, 0.0),
            Act::Reply => (at, 20.0),
        };
        if counts <= t {
            total += points * 0.5f64.powf((t - at).num_seconds() as f64 / 86_400.0);
        }
    }
    total
}

async fn handoff_at_the_first_instant(acts: Vec<(i64, Act)>) {
    let files = [("templates/three.html.hbs", PROP_HTML), ("reps.toml", REPS)];
    let w = World::with_files(Backend::Sqlite, PROP_CONFIG, &[("c", PROP_CAMPAIGN)], &files).await;
    let start = utc("2026-03-02T08:00:00Z");
    w.import("email,first_name,status\nana@x.test,Ana,nurturing\n", start).await;
    let sent = utc("2026-03-02T09:00:00Z");
    w.run(start, sent + TimeDelta::hours(1)).await;
    let links = w.link_tokens("ana@x.test", "c");
    // Distinct minutes from an hour after the send: no scanner window, no burst.
    let mut acts: Vec<(i64, Act)> = acts.into_iter().map(|(m, a)| (3600 + 60 * m, a)).collect();
    acts.sort_by_key(|(o, _)| *o);
    acts.dedup_by_key(|(o, _)| *o);
    for (i, (offset, a)) in acts.iter().enumerate() {
        let at = sent + TimeDelta::seconds(*offset);
        match a {
            Act::Click { link, head } => click(&w, &links[*link], at, *head).await,
            Act::Event(kind, name) => drop(w.engine.event("ana@x.test", kind, name, at).await.unwrap()),
            Act::Reply => drop(w.engine.replied("ana@x.test", nurture::store::Source::Api, at).await.unwrap()),
        }
        let next = acts.get(i + 1).map_or(at + TimeDelta::days(1), |(o, _)| sent + TimeDelta::seconds(*o));
        w.run(at, next).await;
    }
    // The instants the score can rise: each signal as it starts to count.
    let mut instants: Vec<_> = acts
        .iter()
        .map(|(o, a)| sent + TimeDelta::seconds(*o + if matches!(a, Act::Click { .. }) { 2 } else { 0 }))
        .collect();
    instants.sort();
    let expected = instants.into_iter().find(|t| recount(&acts, sent, *t) >= 50.0);
    let handoffs: Vec<_> = w.events(Kind::Handoff).into_iter().map(|e| e.at).collect();
    assert_eq!(handoffs, expected.into_iter().collect::<Vec<_>>(), "{acts:?}");
    let end = sent + TimeDelta::seconds(acts.last().map_or(0, |(o, _)| *o)) + TimeDelta::hours(12);
    let lead = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap();
    let (score, _) = w.engine.score(lead.id, end).await.unwrap();
    let since: Vec<(i64, Act)> = match expected {
        Some(h) => acts
            .iter()
            .filter(|(o, a)| sent + TimeDelta::seconds(*o + if matches!(a, Act::Click { .. }) { 2 } else { 0 }) > h)
            .cloned()
            .collect(),
        None => acts.clone(),
    };
    let again = recount(&since, sent, end);
    assert!((score.total - again).abs() < 1e-6, "score {} against a recount of {again}: {acts:?}", score.total);
    w.finish().await;
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 32,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..proptest::test_runner::Config::default()
    })]
    /// Random streams of clicks, events and replies: the hand-off happens
    /// at the first instant the README's recount reaches the threshold,
    /// and never twice; the score equals the recount.
    #[test]
    fn the_score_is_the_readme_recount_and_hands_off_once(
        acts in proptest::collection::vec((0..3 * 24 * 60i64, act()), 0..9),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(handoff_at_the_first_instant(acts));
    }
}

async fn an_answer_sets_attributes_and_adds_its_points(b: Backend) {
    let config = format!(
        "{CONFIG}[answers.big]\nlabel = \"50 seats or more\"\nattribute = {{ seats = \"50+\" }}\npoints = 30\n\
         [answers.ready]\nlabel = \"Call me\"\nhandoff = true\n"
    );
    let html = "<a href=\"{{answer_url \"big\"}}\">Big</a> <a href=\"{{unsubscribe_url}}\">U</a>";
    let files = [("templates/links.html.hbs", html), ("reps.toml", REPS)];
    let w = World::with_files(b, &config, &[("c", CAMPAIGN)], &files).await;
    let start = utc("2026-03-02T08:00:00Z");
    w.import("email,first_name,status\nana@x.test,Ana,nurturing\n", start).await;
    w.run(start, start + TimeDelta::hours(2)).await;
    let at = utc("2026-03-03T10:00:00Z");
    let token = w.engine.links().answer(&w.link_tokens("ana@x.test", "a")[0]).unwrap();
    assert!(matches!(w.engine.answer(&token, at).await.unwrap(), Answered::Recorded(_)));
    let lead = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap();
    assert_eq!(lead.attributes.get("seats").map(String::as_str), Some("50+"));
    assert_eq!(lead.status, "nurturing", "30 points are not 50");
    let (score, _) = w.engine.score(lead.id, at).await.unwrap();
    assert_eq!(score.total, 30.0);
    w.finish().await;
}
both!(an_answer_sets_attributes_and_adds_its_points);
