//! Inbound mail through the engine: a reply ends `on_reply` campaigns and
//! tells the owner; a bounce by email that names its delivery by the
//! signed return path bounces it and suppresses the lead, and applied
//! twice does nothing more; a forged one suppresses no one; an automatic
//! reply holds the lead's next step until its return date; complaints past
//! `max_complaint_rate` pause their campaign.

use nurture::engine::events::Kind as Ev;
use nurture::inbound::Kind;
use nurture::mail::Outgoing;

use crate::helpers::{Backend, World, both, days, utc};

const CAMPAIGN: &str = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n[exit]\non_reply = true\n\
                        [[step]]\nid = \"hi\"\nemail = \"t\"\nsubject = \"Still weighing it?\"\n\
                        [[step]]\nid = \"again\"\nafter = \"10d\"\nemail = \"t\"\nsubject = \"Again\"\n";

const LEADS: &str = "email,first_name,last_name,company,owner,status,timezone\n\
                     ana@acme.test,Ana,Ruiz,Acme,rep@sales.test,nurturing,Europe/Berlin\n";

fn first_email(w: &World) -> Outgoing {
    w.rec.sent.lock().unwrap().iter().find(|m| m.to == "ana@acme.test").cloned().expect("the first email went out")
}

fn leads_emails(w: &World) -> Vec<String> {
    w.events(Ev::Email).into_iter().map(|e| e.step.unwrap()).collect()
}

async fn a_reply_ends_the_campaign_and_tells_the_owner(b: Backend) {
    let w = World::new(b, "", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let sent = first_email(&w);
    let id = sent.message_id.clone().unwrap();
    assert!(id.starts_with("<d") && id.ends_with("@example.com>"), "the delivery's signed id: {id}");
    assert!(sent.list_id.as_deref().is_some_and(|l| l.ends_with("<c.example.com>")), "{:?}", sent.list_id);

    // From another address of hers: the reference finds the lead.
    let reply = format!(
        "From: Ana <ana.private@home.test>\r\nTo: sales@example.com\r\nSubject: Re: Still weighing it?\r\n\
         Message-ID: <r1@home.test>\r\nIn-Reply-To: {id}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n\
         Call me in March.\r\n\r\nOn Mon, 2 Mar 2026, Sales wrote:\r\n> Hi Ana\r\n"
    );
    let applied = w.engine.inbound(reply.as_bytes(), start + days(1)).await.unwrap();
    assert_eq!(
        (applied.kind, applied.lead.as_deref(), applied.campaign.as_deref()),
        (Kind::Reply, Some("ana@acme.test"), Some("c"))
    );
    let notices: Vec<Outgoing> =
        w.rec.sent.lock().unwrap().iter().filter(|m| m.to == "rep@sales.test").cloned().collect();
    assert_eq!(notices.len(), 1, "the owner is told at once");
    assert_eq!(notices[0].subject, "Ana Ruiz (Acme) replied to 'Still weighing it?'");
    assert!(
        notices[0].text.contains("> Call me in March.") && !notices[0].text.contains("Hi Ana"),
        "{}",
        notices[0].text
    );
    w.run(start + days(1), start + days(20)).await;
    assert_eq!(leads_emails(&w), ["hi"], "the next step is not sent");
    w.finish().await;
}
both!(a_reply_ends_the_campaign_and_tells_the_owner);

async fn a_bounce_to_the_signed_return_path_bounces_its_delivery_once(b: Backend) {
    let w = World::new(b, "return_path = \"bounces@example.com\"\n", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let envelope = first_email(&w).envelope_from.expect("a signed return path");
    assert!(envelope.starts_with("bounces+d") && envelope.ends_with("@example.com"), "{envelope}");
    // The report names no recipient we could trust: the return path decides.
    let bounce = format!(
        "From: MAILER-DAEMON@mx.test\r\nTo: {envelope}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <b1@mx.test>\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n\
         <someone@else.test>: host mx.acme.test said: 550 5.1.1 User unknown\r\n"
    );
    let at = start + days(1);
    let applied = w.engine.inbound(bounce.as_bytes(), at).await.unwrap();
    assert_eq!(
        (applied.kind, applied.lead.as_deref(), applied.step.as_deref()),
        (Kind::Bounce, Some("ana@acme.test"), Some("hi"))
    );
    assert!(w.store().is_suppressed("ana@acme.test").await.unwrap());
    let again = w.engine.inbound(bounce.as_bytes(), at).await.unwrap();
    assert!(again.duplicate, "a message is applied once");
    let history =
        w.store().history(w.store().lead_by_email("ana@acme.test").await.unwrap().unwrap().id, 10).await.unwrap();
    assert!(history.iter().any(|t| t.step == "hi" && t.state == "bounced"), "{history:?}");
    w.run(start + days(1), start + days(20)).await;
    assert_eq!(leads_emails(&w), ["hi"], "nothing more to a bounced address");
    w.finish().await;
}
both!(a_bounce_to_the_signed_return_path_bounces_its_delivery_once);

async fn a_forged_bounce_suppresses_no_one(b: Backend) {
    let w = World::new(b, "return_path = \"bounces@example.com\"\n", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let forged = "From: MAILER-DAEMON@evil.test\r\nTo: bounces+d1.0000000000000000@example.com\r\n\
                  Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <f1@evil.test>\r\n\r\n\
                  <ana@acme.test>: 550 5.1.1 User unknown\r\n";
    let applied = w.engine.inbound(forged.as_bytes(), start + days(1)).await.unwrap();
    assert_eq!((applied.kind, applied.lead.as_deref()), (Kind::Bounce, None));
    assert!(!w.store().is_suppressed("ana@acme.test").await.unwrap());
    w.run(start + days(1), start + days(20)).await;
    assert_eq!(leads_emails(&w), ["hi", "again"]);
    w.finish().await;
}
both!(a_forged_bounce_suppresses_no_one);

async fn an_out_of_office_reply_holds_the_next_step_until_the_return_date(b: Backend) {
    let w = World::new(b, "", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let id = first_email(&w).message_id.unwrap();
    let ooo = format!(
        "From: Ana <ana@acme.test>\r\nTo: sales@example.com\r\nSubject: Abwesenheitsnotiz: Still weighing it?\r\n\
         Auto-Submitted: auto-replied\r\nMessage-ID: <o1@acme.test>\r\nIn-Reply-To: {id}\r\n\
         Date: Mon, 2 Mar 2026 10:00:00 +0100\r\n\r\nIch bin bis 20.03.2026 nicht im B\u{fc}ro.\r\n"
    );
    let applied = w.engine.inbound(ooo.as_bytes(), start + days(1)).await.unwrap();
    assert_eq!(applied.kind, Kind::AutoReply);
    assert_eq!(applied.until.as_deref(), Some("2026-03-20T00:00:00+01:00"), "midnight in her zone");
    assert!(w.events(Ev::Replied).is_empty(), "an auto-reply is never a reply");
    w.run(start + days(1), start + days(30)).await;
    let again: Vec<_> = w.events(Ev::Email).into_iter().filter(|e| e.step.as_deref() == Some("again")).collect();
    assert_eq!(again.len(), 1, "the next step still goes, once");
    assert!(again[0].at >= utc("2026-03-19T23:00:00Z"), "not before she is back: {}", again[0].at);
    assert_eq!(w.events(Ev::Resumed).len(), 1);
    w.finish().await;
}
both!(an_out_of_office_reply_holds_the_next_step_until_the_return_date);

/// A reply asking to be removed unsubscribes, as the link does: the lead
/// is suppressed and gets nothing more (and `nurture inbound` says
/// `reply`, the kind SPEC fixes for a person's answer).
async fn a_reply_asking_to_be_removed_unsubscribes(b: Backend) {
    let w = World::new(b, "", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let id = first_email(&w).message_id.unwrap();
    let reply = format!(
        "From: Ana <ana@acme.test>\r\nTo: sales@example.com\r\nSubject: Re: Still weighing it?\r\n\
         Message-ID: <u1@acme.test>\r\nIn-Reply-To: {id}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n\
         Please take me off this list.\r\n\r\n> Hi Ana\r\n"
    );
    let applied = w.engine.inbound(reply.as_bytes(), start + days(1)).await.unwrap();
    assert_eq!((applied.kind, applied.lead.as_deref()), (Kind::Reply, Some("ana@acme.test")));
    assert!(w.store().is_suppressed("ana@acme.test").await.unwrap(), "unsubscribed");
    w.run(start + days(1), start + days(20)).await;
    assert_eq!(leads_emails(&w), ["hi"], "nothing more");
    w.finish().await;
}
both!(a_reply_asking_to_be_removed_unsubscribes);

/// A stranger's auto-reply claims any date, in its text and its `Date`
/// header: the pause never runs past `inbound.ooo_max` (60 days) from
/// when nurture reads the message.
async fn an_out_of_office_pause_is_capped_from_when_it_is_read(b: Backend) {
    let w = World::new(b, "", &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let id = first_email(&w).message_id.unwrap();
    let ooo = |n: u32, date: &str, back: &str| {
        format!(
            "From: Ana <ana@acme.test>\r\nTo: sales@example.com\r\nSubject: Out of office\r\n\
             Auto-Submitted: auto-replied\r\nMessage-ID: <o{n}@acme.test>\r\nIn-Reply-To: {id}\r\n\
             Date: {date}\r\n\r\nI am out of the office and back on {back}.\r\n"
        )
    };
    let read = start + days(1);
    let cap = utc("2026-05-02T00:00:00Z"); // 60 days after it was read, in her zone (+02:00 then)
    for (n, date, back) in [
        (1, "Fri, 31 Dec 9999 10:00:00 +0000", "31 December 9999"),
        (2, "Tue, 3 Mar 2026 10:00:00 +0000", "4 December 2026"),
        (3, "Wed, 1 Dec 9999 10:00:00 +0000", "December 4"),
    ] {
        let applied = w.engine.inbound(ooo(n, date, back).as_bytes(), read).await.unwrap();
        assert_eq!(applied.kind, Kind::AutoReply, "{back}");
        let until = chrono::DateTime::parse_from_rfc3339(applied.until.as_deref().unwrap()).unwrap();
        assert!(until.to_utc() <= cap && until.to_utc() > read, "{back} (Date {date}): paused until {until}");
    }
    w.finish().await;
}
both!(an_out_of_office_pause_is_capped_from_when_it_is_read);

async fn complaints_past_the_rate_pause_the_campaign(b: Backend) {
    let config = "[guardrails]\nmax_complaint_rate = 0.1\nmin_sample = 5\nwindow = \"2d\"\n";
    let w = World::new(b, config, &[("c", CAMPAIGN)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import_nurturing(10, start).await;
    w.run(start, start + days(1)).await;
    let ids: Vec<String> = w.rec.sent.lock().unwrap().iter().filter_map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), 10);
    // An ARF report that redacts the recipient: the original's id decides.
    let report = |n: usize, id: &str| {
        format!(
            "From: fbl@isp.test\r\nTo: fbl@example.com\r\nSubject: complaint\r\nMessage-ID: <arf{n}@isp.test>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nabuse report\r\n\
             --B\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n\
             --B\r\nContent-Type: message/rfc822\r\n\r\nTo: redacted@isp.test\r\nMessage-ID: {id}\r\n\r\nHi\r\n--B--\r\n"
        )
    };
    let at = start + days(1);
    let first = w.engine.inbound(report(0, &ids[0]).as_bytes(), at).await.unwrap();
    assert_eq!((first.kind, first.campaign.as_deref()), (Kind::Complaint, Some("c")));
    assert!(w.store().is_suppressed(first.lead.as_deref().unwrap()).await.unwrap(), "a complaint suppresses");
    assert!(w.engine.pauses().await.unwrap().is_empty(), "1 of 10 is not above 10 %");
    w.engine.inbound(report(1, &ids[1]).as_bytes(), at).await.unwrap();
    let pauses = w.engine.pauses().await.unwrap();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!(pauses[0].scope, "c");
    assert!(pauses[0].reason.starts_with("complaint rate 20.00 % (2 of 10 emails)"), "{}", pauses[0].reason);
    w.finish().await;
}
both!(complaints_past_the_rate_pause_the_campaign);

async fn a_reply_shows_in_the_reps_reminder_and_digest(b: Backend) {
    // The rep keeps the lead (on_reply = false): the call still comes due.
    let campaign = "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n[exit]\non_reply = false\n\
                    [[step]]\nid = \"hi\"\nemail = \"t\"\nsubject = \"Still weighing it?\"\n\
                    [[step]]\nid = \"call\"\nafter = \"2d\"\ntask = \"Call Ana\"\nassign = \"owner\"\ndue = \"1d\"\n";
    let w = World::new(b, "", &[("c", campaign)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let id = first_email(&w).message_id.unwrap();
    let reply = format!(
        "From: Ana <ana@acme.test>\r\nSubject: Re: Still weighing it?\r\nMessage-ID: <r9@acme.test>\r\n\
         In-Reply-To: {id}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nCall me in March.\r\n"
    );
    w.engine.inbound(reply.as_bytes(), utc("2026-03-03T10:00:00Z")).await.unwrap();
    w.run(start + days(1), start + days(6)).await;
    let to_rep: Vec<Outgoing> =
        w.rec.sent.lock().unwrap().iter().filter(|m| m.to == "rep@sales.test").cloned().collect();
    let reminder = to_rep.iter().find(|m| m.subject == "Task: Call Ana").expect("the task reminder");
    assert!(
        reminder.text.contains("What happened before:\n  Tue 3 Mar 2026, 10:00 UTC  reply replied (c)"),
        "the reply is in the reminder's history:\n{}",
        reminder.text
    );
    let digest = to_rep.iter().find(|m| m.subject.contains("open task")).expect("a digest");
    assert!(digest.text.contains("Latest: 2026-03-03 replied: \"Call me in March.\""), "{}", digest.text);
    w.finish().await;
}
both!(a_reply_shows_in_the_reps_reminder_and_digest);
