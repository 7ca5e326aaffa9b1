//! `report` against a ledger whose counts are worked out by hand: six
//! leads through a two-email, one-task campaign, each with another fate
//! (reply, bounce, conversion, unsubscribe, out-of-office, none); and the
//! rule that every delivery is counted under exactly one step and state.

use nurture::store::Source;

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
