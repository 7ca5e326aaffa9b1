//! Live edits (README, *Live edits*): what a changed campaign file does to
//! enrolments already under way, one rule per case, on both databases.
//! Three leads wait at step `b` of `a, b, c` when the file changes; each
//! case edits it one way (insert before, after, remove, reorder, `after`,
//! subject, audience).

use nurture::campaign::edit::impact;
use nurture::engine::events::Kind;

use crate::helpers::{Backend, World, both, days, utc};

fn campaign(steps: &[(&str, &str)]) -> String {
    let mut s = String::from("[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n");
    for (id, after) in steps {
        s += &format!("[[step]]\nid = \"{id}\"\nafter = \"{after}\"\nemail = \"t\"\nsubject = \"{id}\"\n");
    }
    s
}

const LEADS: &str = "email,status\nl1@x.test,nurturing\nl2@x.test,nurturing\nl3@x.test,nurturing\n";

/// The steps each lead got after the edit, in order.
fn after_edit(w: &World, edit: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut steps: Vec<String> = w
        .events(Kind::Email)
        .into_iter()
        .filter(|e| e.at >= edit && e.lead.as_deref() == Some("l1@x.test"))
        .map(|e| e.step.unwrap())
        .collect();
    steps.dedup();
    steps
}

async fn scene(b: Backend) -> (World, chrono::DateTime<chrono::Utc>) {
    let w = World::new(
        b,
        "[policy]\nmin_gap = \"0s\"\nmax_emails = 20\n",
        &[("c", &campaign(&[("a", "0d"), ("b", "2d"), ("c", "2d")]))],
    )
    .await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await; // a went out at 09:00; b is due on the 4th
    (w, start + days(1))
}

async fn each_edit_does_what_the_readme_says(b: Backend) {
    // A step inserted before b never runs for those already waiting at b.
    let (mut w, edit) = scene(b_again(&b)).await;
    let waiting = w.store().active_by_step("c").await.unwrap();
    let old = w.engine.defs().campaign("c").unwrap().clone();
    w.reload(&[("c", &campaign(&[("a", "0d"), ("new", "1d"), ("b", "2d"), ("c", "2d")]))]);
    let i = impact(Some(&old), w.engine.defs().campaign("c").unwrap(), &waiting);
    assert_eq!(i.skipping, [("b".to_string(), 3, vec!["new".to_string()])]);
    w.run(edit, edit + days(10)).await;
    assert_eq!(after_edit(&w, edit), ["b", "c"]);
    w.finish().await;

    // A step inserted after b runs when reached.
    let (mut w, edit) = scene(b_again(&b)).await;
    w.reload(&[("c", &campaign(&[("a", "0d"), ("b", "2d"), ("new", "1d"), ("c", "2d")]))]);
    w.run(edit, edit + days(10)).await;
    assert_eq!(after_edit(&w, edit), ["b", "new", "c"]);
    w.finish().await;

    // b removed: those waiting at it end, with c cancelled.
    let (mut w, edit) = scene(b_again(&b)).await;
    let waiting = w.store().active_by_step("c").await.unwrap();
    w.reload(&[("c", &campaign(&[("a", "0d"), ("c", "2d")]))]);
    let i = impact(None, w.engine.defs().campaign("c").unwrap(), &waiting);
    assert_eq!(i.ending, [("b".to_string(), 3)]);
    w.run(edit, edit + days(10)).await;
    assert!(after_edit(&w, edit).is_empty());
    let exits: Vec<String> = w.events(Kind::Exited).into_iter().filter_map(|e| e.reason).collect();
    assert_eq!(exits, ["step removed from the campaign"; 3]);
    w.finish().await;

    // Reordered: what follows b in the new order comes next: here a, which
    // went out already; a step never runs twice in one enrolment, so it ends.
    let (mut w, edit) = scene(b_again(&b)).await;
    w.reload(&[("c", &campaign(&[("c", "0d"), ("b", "2d"), ("a", "1d")]))]);
    w.run(edit, edit + days(10)).await;
    assert_eq!(after_edit(&w, edit), ["b"]);
    assert_eq!(w.store().active_by_step("c").await.unwrap().len(), 0, "ended");
    w.finish().await;

    // b's `after` changed: the due time set when a ran stays; c uses its new after.
    let (mut w, edit) = scene(b_again(&b)).await;
    let waiting = w.store().active_by_step("c").await.unwrap();
    let old = w.engine.defs().campaign("c").unwrap().clone();
    w.reload(&[("c", &campaign(&[("a", "0d"), ("b", "5d"), ("c", "4d")]))]);
    let i = impact(Some(&old), w.engine.defs().campaign("c").unwrap(), &waiting);
    assert_eq!(i.kept_due, [("b".to_string(), 3)]);
    w.run(edit, edit + days(12)).await;
    let times: Vec<String> = w
        .events(Kind::Email)
        .into_iter()
        .filter(|e| e.at >= edit && e.lead.as_deref() == Some("l1@x.test"))
        .map(|e| format!("{} {}", e.step.unwrap(), nurture::template::context::rfc3339(e.at)))
        .collect();
    assert_eq!(times, ["b 2026-03-04T09:00:00Z", "c 2026-03-08T09:00:00Z"]);
    w.finish().await;

    // b's subject edited: the email goes with the new one.
    let (mut w, edit) = scene(b_again(&b)).await;
    w.reload(&[(
        "c",
        &campaign(&[("a", "0d"), ("b", "2d"), ("c", "2d")]).replace("subject = \"b\"", "subject = \"b, edited\""),
    )]);
    w.run(edit, edit + days(3)).await;
    let subjects: Vec<String> =
        w.rec.sent.lock().unwrap().iter().filter(|m| m.to == "l1@x.test").map(|m| m.subject.clone()).collect();
    assert_eq!(subjects, ["a", "b, edited"]);
    w.finish().await;

    // The audience narrowed to another status: each lead leaves at its next step.
    let (mut w, edit) = scene(b_again(&b)).await;
    w.reload(&[("c", &campaign(&[("a", "0d"), ("b", "2d"), ("c", "2d")]).replace("[\"nurturing\"]", "[\"new\"]"))]);
    w.run(edit, edit + days(10)).await;
    assert!(after_edit(&w, edit).is_empty());
    let exits: Vec<String> = w.events(Kind::Exited).into_iter().filter_map(|e| e.reason).collect();
    assert_eq!(exits, ["status nurturing left the audience"; 3]);
    w.finish().await;
}

fn b_again(b: &Backend) -> Backend {
    match b {
        Backend::Sqlite => Backend::Sqlite,
        Backend::Postgres => Backend::Postgres,
    }
}
both!(each_edit_does_what_the_readme_says);
