//! Tracked links: each link of a sent email carries its exact target under
//! a signed token; clicks are stored with the machine rules applied (HEAD,
//! the scanner window, every link within the burst, the decoy); a
//! forgotten lead's clicks store nothing.

use chrono::TimeDelta;
use nurture::links::{ClickToken, DECOY};
use nurture::store::{Click, Signal};

use crate::helpers::{Backend, World, both, utc};

const CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                        [[step]]\nid = \"hi\"\nemail = \"links\"\nsubject = \"Hi\"\n";

const HTML: &str = "<p>Hi {{lead.first_name}}</p><a href=\"https://shop.test/pricing?a=1&amp;b=[2]&amp;c=%41&amp;d=\u{e9}\">Pricing</a> \
                    <a href=\"https://shop.test/guide\">Guide</a> <a href=\"{{unsubscribe_url}}\">Unsubscribe</a>";

/// The click tokens of the email sent to `to`, in order (the decoy last).
fn tokens(w: &World, to: &str) -> Vec<(String, ClickToken)> {
    let tokens = w.link_tokens(to, "c").into_iter();
    tokens.map(|t| (t.clone(), w.engine.links().click(&t).expect("a valid token"))).collect()
}

async fn machines(w: &World, lead: i64) -> Vec<(Option<i64>, String)> {
    let signals: Vec<Signal> = w.store().signals(lead, utc("2026-01-01T00:00:00Z")).await.unwrap();
    signals.into_iter().map(|s| (s.link, s.machine)).collect()
}

async fn clicks_are_stored_with_the_machine_rules(b: Backend) {
    let w = World::with_files(b, "", &[("c", CAMPAIGN)], &[("templates/links.html.hbs", HTML)]).await;
    let start = utc("2026-03-02T08:00:00Z");
    w.import("email,first_name,status\nana@x.test,Ana,nurturing\nben@x.test,Ben,nurturing\n", start).await;
    w.run(start, start + TimeDelta::hours(2)).await;
    let ana = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap().id;
    let ben = w.store().lead_by_email("ben@x.test").await.unwrap().unwrap().id;
    let t = tokens(&w, "ana@x.test");
    let urls: Vec<&str> = t.iter().map(|(_, c)| c.url.as_str()).collect();
    assert_eq!(urls, ["https://shop.test/pricing?a=1&b=[2]&c=%41&d=\u{e9}", "https://shop.test/guide", ""], "{t:?}");
    assert_eq!(t[2].1.link, DECOY);
    let sent = utc("2026-03-02T09:00:00Z");
    let window = TimeDelta::seconds(60);
    let click = |c: &ClickToken, at, head| Click { token: c.clone(), at, head };
    let store = w.store();
    // The scanner: HEAD at once, then every link within a second.
    store.record_click(&click(&t[0].1, sent + TimeDelta::seconds(2), true), window).await.unwrap();
    store.record_click(&click(&t[0].1, sent + TimeDelta::seconds(3), false), window).await.unwrap();
    store.record_click(&click(&t[1].1, sent + TimeDelta::seconds(3), false), window).await.unwrap();
    // Later, a person on one link; another burst of every link; a decoy hit.
    let later = sent + TimeDelta::hours(3);
    store.record_click(&click(&t[0].1, later, false), window).await.unwrap();
    let burst = later + TimeDelta::minutes(10);
    store.record_click(&click(&t[1].1, burst, false), window).await.unwrap();
    store.record_click(&click(&t[0].1, burst + TimeDelta::milliseconds(900), false), window).await.unwrap();
    let decoyed = later + TimeDelta::minutes(20);
    store.record_click(&click(&t[1].1, decoyed, false), window).await.unwrap();
    store.record_click(&click(&t[2].1, decoyed + TimeDelta::seconds(1), false), window).await.unwrap();
    let found = machines(&w, ana).await;
    let expected: Vec<(Option<i64>, String)> = [
        (0, "head"),
        (0, "scanner"),
        (1, "scanner"),
        (0, ""),
        (1, "burst"),
        (0, "burst"),
        (1, "decoy"),
        (DECOY, "decoy"),
    ]
    .into_iter()
    .map(|(l, m)| (Some(l), m.to_string()))
    .collect();
    assert_eq!(found, expected);
    assert_eq!(machines(&w, ben).await, [], "ben clicked nothing");

    w.engine.forget("ana@x.test", later).await.unwrap();
    let after = store.record_click(&click(&t[0].1, later + TimeDelta::hours(1), false), window).await.unwrap();
    assert_eq!(after, None, "a forgotten lead's click stores nothing");
    assert_eq!(w.scalar("SELECT COUNT(*) FROM signals WHERE lead_id = $1", ana).await, 0);
    w.finish().await;
}
both!(clicks_are_stored_with_the_machine_rules);

async fn a_campaign_can_send_its_links_as_written(b: Backend) {
    let plain = format!("{CAMPAIGN}[tracking]\nlinks = false\n");
    let w = World::with_files(b, "", &[("c", &plain)], &[("templates/links.html.hbs", HTML)]).await;
    let start = utc("2026-03-02T08:00:00Z");
    w.import("email,first_name,status\nana@x.test,Ana,nurturing\n", start).await;
    w.run(start, start + TimeDelta::hours(2)).await;
    assert!(w.link_tokens("ana@x.test", "c").is_empty(), "no tracked link, no decoy");
    let html = w.rec.sent.lock().unwrap()[0].html.clone().unwrap();
    assert!(html.contains("href=\"https://shop.test/guide\""), "{html}");
    w.finish().await;
}
both!(a_campaign_can_send_its_links_as_written);

/// Clicks recorded in batches (the click writer's) get the same machine
/// marks as recorded one by one: the same rules, whatever the batch size.
async fn batched_as_one_by_one(clicks: Vec<(usize, i64, bool)>, batch: usize) {
    let mut results = Vec::new();
    for size in [1, batch] {
        let w = World::with_files(Backend::Sqlite, "", &[("c", CAMPAIGN)], &[("templates/links.html.hbs", HTML)]).await;
        let start = utc("2026-03-02T08:00:00Z");
        w.import("email,first_name,status\nana@x.test,Ana,nurturing\n", start).await;
        w.run(start, start + TimeDelta::hours(2)).await;
        let t = tokens(&w, "ana@x.test");
        let sent = utc("2026-03-02T09:00:00Z");
        let all: Vec<Click> = clicks
            .iter()
            .map(|(link, ms, head)| Click {
                token: t[*link].1.clone(),
                at: sent + TimeDelta::milliseconds(*ms),
                head: *head,
            })
            .collect();
        for chunk in all.chunks(size) {
            w.store().record_clicks(chunk, TimeDelta::seconds(60)).await.unwrap();
        }
        let lead = w.store().lead_by_email("ana@x.test").await.unwrap().unwrap().id;
        results.push(machines(&w, lead).await);
        w.finish().await;
    }
    assert_eq!(results[0], results[1], "{clicks:?} in batches of {batch}");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 24,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..proptest::test_runner::Config::default()
    })]
    #[test]
    fn clicks_in_batches_are_marked_as_one_by_one(
        steps in proptest::collection::vec((0..3usize, 0..3000i64, proptest::bool::weighted(0.1)), 1..25),
        batch in 2..10usize,
    ) {
        // In time order, from a minute after the send (some inside the scanner window).
        let mut at = 30_000i64;
        let clicks: Vec<(usize, i64, bool)> = steps.into_iter().map(|(l, gap, head)| { at += gap; (l, at, head) }).collect();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(batched_as_one_by_one(clicks, batch));
    }
}
