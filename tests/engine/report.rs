//! `report` against a ledger whose counts are worked out by hand: six
//! leads through a two-email, one-task campaign, each with another fate
//! (reply, bounce, conversion, unsubscribe, out-of-office, none); and the
//! rule that every delivery is counted under exactly one step and state.

use nurture::store::Source;

use sqlx::Connection;

use crate::helpers::{Backend, World, both, days, utc};

const CAMPAIGN: &str = "name = \"Drip\"\n[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
                        [[step]]\nid = \"hi\"\nemail = \"t\"\nsubject = \"Hi\"\n\
                        [[step]]\nid = \"again\"\nafter = \"3d\"\nemail = \"t\"\nsubject = \"Again\"\n\
                        [[step]]\nid = \"call\"\nafter = \"1d\"\ntask = \"Call\"\nassign = \"owner\"\ndue = \"1d\"\n";

const LEADS: &str = "email,owner,status\nana@x.test,rep@s.test,nurturing\nben@x.test,rep@s.test,nurturing\n\
                     cy@x.test,rep@s.test,nurturing\ndee@x.test,rep@s.test,nurturing\n\
                     eve@x.test,rep@s.test,nurturing\nfay@x.test,rep@s.test,nurturing\n";

async fn a_hand_counted_ledger_is_reported_step_by_step(b: Backend) {
    let w = World::new(b, "[policy]\nmin_gap = \"0s\"\n", &[("drip", CAMPAIGN)]).await;
    w.rec.bounce.lock().unwrap().insert("ben@x.test".to_string());
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await; // hi goes out at 09:00 on the 2nd
    let sent = w.rec.sent.lock().unwrap().clone();
    let id_of = |to: &str| sent.iter().find(|m| m.to == to).unwrap().message_id.clone().unwrap();
    let reply = format!(
        "From: ana@x.test\r\nSubject: Re: Hi\r\nMessage-ID: <r@x.test>\r\nIn-Reply-To: {}\r\n\r\nYes, call me.\r\n",
        id_of("ana@x.test")
    );
    w.engine.inbound(reply.as_bytes(), start + days(1)).await.unwrap(); // replied 15 h after hi
    let away = "From: fay@x.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <o@x.test>\r\n\r\n\
                I am away.\r\n";
    w.engine.inbound(away.as_bytes(), start + days(1)).await.unwrap();
    let dee = w.store().lead_by_email("dee@x.test").await.unwrap().unwrap().id;
    w.engine.unsubscribe(dee, start + days(1)).await.unwrap();
    let won = start + days(3) + chrono::TimeDelta::hours(12);
    w.run(start + days(1), won).await; // again at 09:00 on the 5th
    w.engine.set_status("cy@x.test", "won", None, Source::Api, won).await.unwrap();
    w.run(won, start + days(6)).await; // calls at 09:00 on the 6th
    let eve_task =
        w.store().open_tasks(None).await.unwrap().into_iter().find(|t| t.lead_email == "eve@x.test").unwrap();
    w.engine.task_done(eve_task.id, Source::Link, eve_task.created_at + chrono::TimeDelta::hours(2)).await.unwrap();
    let now = start + days(20);
    w.run(start + days(6), now).await;

    let r = nurture::report::build(w.engine.defs(), w.store(), None, chrono::DateTime::UNIX_EPOCH, now).await.unwrap();
    assert_eq!(r.campaigns.len(), 1);
    let c = &r.campaigns[0];
    assert_eq!((c.campaign.as_str(), c.name.as_str(), c.enrolled), ("drip", "Drip", 6));
    let steps: Vec<&str> = c.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(steps, ["hi", "again", "call"], "in the campaign's order");
    let (hi, again, call) = (&c.steps[0], &c.steps[1], &c.steps[2]);
    // hi: all six reached it; ben's bounced at once.
    assert_eq!((hi.reached, hi.sent, hi.bounced), (6, 5, 1));
    assert_eq!((hi.replied, hi.unsubscribed, hi.auto_replies, hi.converted), (1, 1, 1, 0));
    assert_eq!(hi.median_reply_s, Some(15 * 3600));
    // again: ana (replied), ben (bounced), dee (unsubscribed) are out;
    // fay's waits out her week away, then goes.
    assert_eq!((again.sent, again.converted), (3, 1), "cy, eve, fay; cy won 3 hours after hers");
    assert_eq!(call.kind, "task");
    assert_eq!(call.sent, 2, "eve's and fay's calls; cy left on winning");
    assert_eq!(r.reps.len(), 1);
    let rep = &r.reps[0];
    assert_eq!((rep.rep.as_str(), rep.created, rep.done, rep.overdue), ("rep@s.test", 2, 1, 1));
    assert_eq!(rep.median_done_s, Some(2 * 3600));

    // Every delivery under exactly one step and state.
    let total: i64 = w.store().status(now).await.unwrap().total.values().sum();
    let counted: i64 = c
        .steps
        .iter()
        .map(|s| s.sent + s.failed + s.bounced + s.suppressed + s.uncertain + s.cancelled + s.pending)
        .sum();
    assert_eq!(counted, total, "every delivery row counted once");
    let text = r.text();
    assert!(text.contains("drip — Drip: 6 enrolled"), "{text}");
    assert!(text.contains("rep@s.test"), "{text}");

    // The console's chart: emails sent per day.
    let days = w.store().sends_per_day(chrono::DateTime::UNIX_EPOCH).await.unwrap();
    let on = |d: &str| days.iter().find(|(day, _)| day.to_string() == d).map_or(0, |(_, n)| *n);
    assert_eq!(days.iter().map(|(_, n)| n).sum::<i64>(), hi.sent + again.sent, "{days:?}");
    assert_eq!((on("2026-03-02"), on("2026-03-05")), (5, 2), "hi to five; again to cy and eve: {days:?}");

    // --since after everything: nothing.
    let later = nurture::report::build(w.engine.defs(), w.store(), None, now, now).await.unwrap();
    assert!(later.campaigns.is_empty() && later.reps.is_empty(), "{later:?}");
    w.finish().await;
}
both!(a_hand_counted_ledger_is_reported_step_by_step);

/// What happens to one lead of a random ledger; hours count from the start,
/// each at half past (the engine's sends fall on the hour).
#[derive(Debug, Clone)]
struct Fate {
    bounce: bool,
    /// A reply at this hour to the lead's `n`th email (mod how many it got).
    reply: Option<(i64, usize)>,
    unsubscribe: Option<i64>,
    won: Option<i64>,
    task_done: bool,
}

fn fate() -> impl proptest::strategy::Strategy<Value = Fate> {
    use proptest::prelude::*;
    let hour = || proptest::option::weighted(0.5, 0..16 * 24i64);
    (
        proptest::bool::weighted(0.2),
        proptest::option::weighted(0.5, (0..16 * 24i64, 0..3usize)),
        hour(),
        hour(),
        any::<bool>(),
    )
        .prop_map(|(bounce, reply, unsubscribe, won, task_done)| Fate {
            bounce,
            reply,
            unsubscribe,
            won,
            task_done,
        })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Reply(usize),
    Unsubscribe,
    Won,
}

/// The report of a random ledger against a recount of the ledger's rows by
/// the README's rules: each delivery under its step and state, `reached`
/// all but the cancelled, a reply credited to the email it answers, an
/// unsubscribe and a conversion (within `window`) to the lead's last email
/// (sent, bounced or uncertain) at or before it, only what happened since
/// `--since`; per rep, tasks created and done.
async fn random_ledger_adds_up(fates: Vec<Fate>, uncertain: usize, since_day: i64) {
    use std::collections::BTreeMap;
    let w = World::new(
        Backend::Sqlite,
        "[policy]\nmin_gap = \"0s\"\n[report]\ngoal = [\"won\"]\nwindow = \"2d\"\n",
        &[("drip", CAMPAIGN)],
    )
    .await;
    let start = utc("2026-03-02T00:00:00Z");
    let end = start + days(20);
    let email = |i: usize| format!("l{i}@x.test");
    let mut csv = String::from("email,owner,status\n");
    for (i, f) in fates.iter().enumerate() {
        csv += &format!("{},rep@s.test,nurturing\n", email(i));
        if f.bounce {
            w.rec.bounce.lock().unwrap().insert(email(i));
        }
    }
    for _ in 0..uncertain {
        w.rec.failures.lock().unwrap().push_back(nurture::mail::SendError::Unknown("connection lost".into()));
    }
    w.import(&csv, start).await;
    let at = |h: i64| start + chrono::TimeDelta::hours(h) + chrono::TimeDelta::minutes(30);
    let mut acts: Vec<(chrono::DateTime<chrono::Utc>, usize, Act)> = Vec::new();
    for (i, f) in fates.iter().enumerate() {
        acts.extend(f.reply.map(|(h, n)| (at(h), i, Act::Reply(n))));
        acts.extend(f.unsubscribe.map(|h| (at(h), i, Act::Unsubscribe)));
        acts.extend(f.won.map(|h| (at(h), i, Act::Won)));
    }
    acts.sort_by_key(|(t, i, _)| (*t, *i));
    // (subject of the email answered, when) of each reply sent.
    let mut replies: Vec<(String, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut clock = start;
    for (t, i, act) in acts {
        w.run(clock, t).await;
        clock = t;
        match act {
            Act::Reply(n) => {
                let got: Vec<_> = w.rec.sent.lock().unwrap().iter().filter(|m| m.to == email(i)).cloned().collect();
                if got.is_empty() {
                    continue;
                }
                let answered = &got[n % got.len()];
                let reply = format!(
                    "From: {}\r\nSubject: Re: {}\r\nMessage-ID: <r{i}@x.test>\r\nIn-Reply-To: {}\r\n\r\nTell me more.\r\n",
                    email(i),
                    answered.subject,
                    answered.message_id.clone().unwrap()
                );
                w.engine.inbound(reply.as_bytes(), t).await.unwrap();
                replies.push((answered.subject.clone(), t));
            }
            Act::Unsubscribe => {
                let id = w.store().lead_by_email(&email(i)).await.unwrap().unwrap().id;
                w.engine.unsubscribe(id, t).await.unwrap();
            }
            Act::Won => {
                w.engine.set_status(&email(i), "won", None, Source::Api, t).await.unwrap();
            }
        }
    }
    w.run(clock, end).await;
    let mut done = 0;
    for t in w.store().open_tasks(None).await.unwrap() {
        let i: usize = t.lead_email[1..t.lead_email.find('@').unwrap()].parse().unwrap();
        if fates[i].task_done && t.created_at >= start + days(since_day) {
            w.engine.task_done(t.id, Source::Link, end).await.unwrap();
            done += 1;
        }
    }

    // The recount, from the rows.
    let since = start + days(since_day);
    let mut c = sqlx::SqliteConnection::connect(&w.url).await.unwrap();
    let rows: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT l.email, d.step_id, d.kind, d.state, d.created_at, d.updated_at FROM deliveries d \
         JOIN leads l ON l.id = d.lead_id ORDER BY d.updated_at, d.id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let time = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let mut want: BTreeMap<String, BTreeMap<&str, i64>> = BTreeMap::new();
    let mut created = 0;
    for (_, step, kind, state, made, _) in &rows {
        if time(made) < since {
            continue;
        }
        let s = want.entry(step.clone()).or_default();
        *s.entry(if matches!(state.as_str(), "sending" | "retrying") { "pending" } else { state }).or_default() += 1;
        if state != "cancelled" {
            *s.entry("reached").or_default() += 1;
        }
        created += i64::from(kind == "task" && state == "sent");
    }
    let last_email = |lead: &str, t: chrono::DateTime<chrono::Utc>| {
        rows.iter()
            .rfind(|(l, _, kind, state, _, sent)| {
                l == lead
                    && kind == "email"
                    && ["sent", "bounced", "uncertain"].contains(&state.as_str())
                    && time(sent) <= t
            })
            .map(|(_, step, _, _, _, sent)| (step.clone(), time(sent)))
    };
    for (subject, t) in &replies {
        let step = if subject == "Hi" { "hi" } else { "again" };
        if *t >= since {
            *want.entry(step.into()).or_default().entry("replied").or_default() += 1;
        }
    }
    for (i, f) in fates.iter().enumerate() {
        for (h, what) in [(f.unsubscribe, "unsubscribed"), (f.won, "converted")] {
            let Some(t) = h.map(at) else { continue };
            let Some((step, sent)) = last_email(&email(i), t) else { continue };
            // An address already suppressed by a bounce: the click changes
            // nothing and is not counted.
            let bounced =
                rows.iter().any(|(l, _, _, state, _, at)| *l == email(i) && state == "bounced" && time(at) <= t);
            if what == "unsubscribed" && bounced {
                continue;
            }
            if t >= since && (what == "unsubscribed" || t - sent <= days(2)) {
                *want.entry(step).or_default().entry(what).or_default() += 1;
            }
        }
    }

    let r = nurture::report::build(w.engine.defs(), w.store(), None, since, end).await.unwrap();
    let mut got: BTreeMap<String, BTreeMap<&str, i64>> = BTreeMap::new();
    for s in r.campaigns.iter().flat_map(|c| &c.steps) {
        let counts = [
            ("reached", s.reached),
            ("sent", s.sent),
            ("failed", s.failed),
            ("bounced", s.bounced),
            ("suppressed", s.suppressed),
            ("uncertain", s.uncertain),
            ("cancelled", s.cancelled),
            ("pending", s.pending),
            ("unsubscribed", s.unsubscribed),
            ("replied", s.replied),
            ("converted", s.converted),
        ];
        got.insert(s.step.clone(), counts.into_iter().filter(|(_, n)| *n > 0).collect());
    }
    // Every defined step is listed, a row of zeros where nothing happened.
    for step in ["hi", "again", "call"] {
        want.entry(step.into()).or_default();
    }
    if r.campaigns.is_empty() {
        want.retain(|_, s| !s.is_empty());
    }
    assert_eq!(got, want, "report (left) against the rows recounted (right)");
    let rep = r.reps.iter().find(|r| r.rep == "rep@s.test");
    assert_eq!(rep.map_or((0, 0), |r| (r.created, r.done)), (created, done), "{:?}", r.reps);
    w.finish().await;
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 24,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..proptest::test_runner::Config::default()
    })]
    #[test]
    fn per_step_outcomes_add_up_to_the_ledger(
        fates in proptest::collection::vec(fate(), 1..7),
        uncertain in 0..3usize,
        since_day in proptest::prop_oneof![proptest::strategy::Just(0i64), 0..20i64],
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(random_ledger_adds_up(fates, uncertain, since_day));
    }
}
