//! `simulate --inbound DIR`: messages arrive at their `Date` on the virtual
//! clock and go through the same classifier as `nurture inbound`: a reply
//! or a complaint ends the lead's steps, a hard bounce too, an
//! out-of-office reply holds them until its return date.

use crate::helpers::Project;

const LEADS: &str = "email,first_name,status,status_changed_at\n\
                     ana@x.test,Ana,nurturing,2026-01-01T00:00:00Z\n\
                     ben@x.test,Ben,nurturing,2026-01-01T00:00:00Z\n\
                     cy@x.test,Cy,nurturing,2026-01-01T00:00:00Z\n\
                     dee@x.test,Dee,nurturing,2026-01-01T00:00:00Z\n\
                     eve@x.test,Eve,nurturing,2026-01-01T00:00:00Z\n";

fn mail(p: &Project) {
    p.write(
        "inbound/ana-reply.eml",
        "From: Ana <ana@x.test>\nTo: sales@example.com\nSubject: Re: Welcome, Ana\nMessage-ID: <r1@x.test>\n\
         Date: Tue, 3 Mar 2026 10:00:00 +0000\n\nSounds good, call me.\n",
    );
    p.write(
        "inbound/ben-bounce.eml",
        "From: MAILER-DAEMON@mx.test\nTo: sales@example.com\nSubject: Undelivered Mail Returned to Sender\n\
         Message-ID: <b1@mx.test>\nDate: Mon, 2 Mar 2026 12:00:00 +0000\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\n\
         Content-Type: text/plain\n\nYour message could not be delivered.\n\n--B\n\
         Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\n\
         Final-Recipient: rfc822; ben@x.test\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--B--\n",
    );
    p.write(
        "inbound/cy-away.eml",
        "From: Cy <cy@x.test>\nTo: sales@example.com\nSubject: Out of office: Welcome, Cy\nMessage-ID: <o1@x.test>\n\
         Auto-Submitted: auto-replied\nDate: Mon, 2 Mar 2026 15:00:00 +0000\n\n\
         I am away and back on 9 March.\n",
    );
    p.write(
        "inbound/dee-complaint.eml",
        "From: fbl@isp.test\nTo: fbl@example.com\nSubject: Abuse report\nMessage-ID: <c1@isp.test>\n\
         Date: Tue, 3 Mar 2026 08:00:00 +0000\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n\n--F\n\
         Content-Type: text/plain\n\nA complaint.\n\n--F\nContent-Type: message/feedback-report\n\n\
         Feedback-Type: abuse\nUser-Agent: ISP\nVersion: 1\nOriginal-Rcpt-To: dee@x.test\n\n--F\n\
         Content-Type: message/rfc822\n\nTo: dee@x.test\nSubject: Welcome, Dee\n\nHi\n\n--F--\n",
    );
}

fn events(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn of<'a>(events: &'a [serde_json::Value], event: &str, lead: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == event && e["lead"] == lead).collect()
}

#[test]
fn inbound_mail_replayed_at_its_date_stops_pauses_and_resumes_steps() {
    let p = Project::fixture();
    p.write("leads.csv", LEADS);
    mail(&p);
    let args = ["simulate", "--days", "14", "--start", "2026-03-02T00:00:00Z", "--leads", "leads.csv", "--json"];
    let r = p.run(&[&args[..], &["--inbound", "inbound"]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ev = events(&r.stdout);
    let steps =
        |lead: &str| of(&ev, "email", lead).iter().map(|e| e["step"].as_str().unwrap().to_string()).collect::<Vec<_>>();

    assert_eq!(steps("eve@x.test"), ["welcome", "guide"], "a lead who wrote nothing gets both steps");
    let replied = of(&ev, "replied", "ana@x.test");
    assert_eq!(replied.len(), 1);
    assert_eq!(replied[0]["at"], "2026-03-03T10:00:00Z", "at the message's Date");
    assert_eq!(steps("ana@x.test"), ["welcome"], "the reply ends the campaign");
    assert_eq!(of(&ev, "bounced", "ben@x.test").len(), 1);
    assert_eq!(steps("ben@x.test"), ["welcome"], "the hard bounce ends it");
    assert_eq!(of(&ev, "complaint", "dee@x.test").len(), 1);
    assert_eq!(steps("dee@x.test"), ["welcome"], "the complaint ends it");

    let paused = of(&ev, "paused", "cy@x.test");
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0]["until"], "2026-03-09T00:00:00+00:00", "the return date the note states");
    let guide = of(&ev, "email", "cy@x.test").into_iter().find(|e| e["step"] == "guide").expect("cy's guide, later");
    assert_eq!(guide["at"], "2026-03-09T00:00:00Z", "the step due on the 4th waits for the return (no window here)");
    let resumed = of(&ev, "resumed", "cy@x.test");
    assert_eq!(resumed.len(), 1, "{ev:?}");

    // The same replay without --json: one readable line each.
    let r = p.run(&[&args[..7], &["--inbound", "inbound"]].concat());
    assert!(
        r.stdout.lines().any(|l| l.contains("paused") && l.contains("until=\"2026-03-09T00:00:00+00:00\"")),
        "{}",
        r.stdout
    );
}

#[test]
fn a_message_without_a_date_is_named_and_one_outside_the_days_is_left_out() {
    let p = Project::fixture();
    p.write("leads.csv", LEADS);
    p.write("inbound/late.eml", "From: ana@x.test\nSubject: Hi\nDate: Tue, 3 Mar 2027 10:00:00 +0000\n\nHello\n");
    let args =
        ["simulate", "--days", "3", "--start", "2026-03-02T00:00:00Z", "--leads", "leads.csv", "--inbound", "inbound"];
    let r = p.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("inbound/late.eml: dated 2027-03-03T10:00:00+00:00, outside the simulated days"),
        "{}",
        r.stderr
    );
    p.write("inbound/undated.eml", "From: ana@x.test\nSubject: Hi\n\nHello\n");
    let r = p.run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("inbound/undated.eml: no readable Date header"), "{}", r.stderr);
}

/// `simulate --events FILE` on the bundled project: a person's click on
/// pricing and a page view make Ana ready (the rep told at once), a HEAD
/// click counts for nothing, Bo's "later" holds his steps 90 days; a bad
/// line is named with what to write.
#[test]
fn events_replayed_on_the_virtual_clock_hand_over_and_pause() {
    let p = Project::bundled();
    p.write(
        "leads.csv",
        "email,first_name,status,owner\nana@x.test,Ana,nurturing,rep@s.test\nbo@x.test,Bo,nurturing,rep@s.test\n",
    );
    p.edit("nurture.toml", "[mail]", "[handoff]\nthreshold = 50\n[mail]");
    p.write(
        "events.jsonl",
        "{\"at\": \"2026-03-03T11:00:00Z\", \"lead\": \"ana@x.test\", \"type\": \"click\", \"url\": \"https://acme.example/guide\", \"head\": true}\n\
         {\"at\": \"2026-03-03T12:00:00Z\", \"lead\": \"ana@x.test\", \"type\": \"click\", \"url\": \"https://acme.example/pricing?plan=pro\"}\n\
         # the pricing page, five minutes later\n\
         {\"at\": \"2026-03-03T12:05:00Z\", \"lead\": \"ana@x.test\", \"type\": \"page_view\", \"name\": \"pricing\"}\n\
         {\"at\": \"2026-03-04T10:00:00Z\", \"lead\": \"bo@x.test\", \"type\": \"answer\", \"answer\": \"later\"}\n",
    );
    let args = ["simulate", "--days", "30", "--start", "2026-03-02T08:00:00Z", "--leads", "leads.csv", "--json"];
    let r = p.run(&[&args[..], &["--events", "events.jsonl"]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ev = events(&r.stdout);
    let handoff = of(&ev, "handoff", "ana@x.test");
    assert_eq!(handoff.len(), 1, "{}", r.stdout);
    assert_eq!(handoff[0]["at"], "2026-03-03T12:05:00Z");
    assert_eq!(handoff[0]["to"], "rep@s.test");
    assert!(handoff[0]["reason"].as_str().unwrap().contains("page_view:pricing"), "{}", handoff[0]);
    assert!(!handoff[0]["reason"].as_str().unwrap().contains("guide"), "a HEAD is a machine's: {}", handoff[0]);
    assert_eq!(of(&ev, "reminder", "ana@x.test").len(), 1, "the rep is emailed at the hand-off");
    assert_eq!(of(&ev, "answered", "bo@x.test").len(), 1);
    let bo_after: Vec<_> =
        of(&ev, "email", "bo@x.test").into_iter().filter(|e| e["at"].as_str().unwrap() > "2026-03-04T10").collect();
    assert!(bo_after.is_empty(), "\"later\" holds Bo's steps: {bo_after:?}");

    p.write(
        "events.jsonl",
        "{\"at\": \"2026-03-03T12:00:00Z\", \"lead\": \"bo@x.test\", \"type\": \"answer\", \"answer\": \"redy\"}\n",
    );
    let r = p.run(&[&args[..], &["--events", "events.jsonl"]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("events.jsonl:1: answer \"redy\" is not one of [answers.*]; did you mean \"ready\"?"),
        "{}",
        r.stderr
    );
    p.write("events.jsonl", "{\"at\": \"2026-03-03T12:00:00Z\", \"lead\": \"bo@x.test\", \"typ\": \"click\"}\n");
    let r = p.run(&[&args[..], &["--events", "events.jsonl"]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("events.jsonl:1: unknown field `typ`"), "{}", r.stderr);
}

/// `simulate --events` shows an A/B test being won on the virtual clock
/// (README, *A/B tests*): the leads sent variant b reply, and a day after
/// the emails the test's first look declares b; `preview --variant` shows
/// one variant.
#[test]
fn a_test_is_won_on_the_virtual_clock() {
    let p = Project::fixture();
    std::fs::remove_dir_all(p.path("campaigns")).unwrap();
    p.write(
        "campaigns/value.toml",
        "name = \"Value\"\n[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
         [[step]]\nid = \"value\"\nemail = \"value/a\"\nsubject = \"What {{default lead.company \\\"you\\\"}} could save\"\n\
         [[step.variant]]\nid = \"a\"\n[[step.variant]]\nid = \"b\"\nemail = \"value/b\"\nsubject = \"A question\"\n\
         [step.test]\nmin_sample = 20\n",
    );
    p.write("templates/value/a.txt.hbs", "Hi, a.\n{{unsubscribe_url}}\n");
    p.write("templates/value/b.txt.hbs", "Hi, b.\n{{unsubscribe_url}}\n");
    let leads: String = (0..60).map(|i| format!("l{i}@x.test,nurturing\n")).collect();
    p.write("leads.csv", format!("email,status\n{leads}"));
    let args = ["simulate", "--days", "3", "--start", "2026-03-02T00:00:00Z", "--leads", "leads.csv", "--json"];
    let r = p.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ev = events(&r.stdout);
    let to_b: Vec<&str> = ev
        .iter()
        .filter(|e| e["event"] == "email" && e["variant"] == "b")
        .map(|e| e["lead"].as_str().unwrap())
        .collect();
    assert!(to_b.len() >= 20 && ev.iter().filter(|e| e["variant"] == "a").count() >= 20, "{}", r.stdout);
    assert!(!ev.iter().any(|e| e["event"] == "winner"), "no replies: no winner");
    let replies: String = to_b
        .iter()
        .map(|l| format!("{{\"at\": \"2026-03-02T15:00:00Z\", \"lead\": \"{l}\", \"type\": \"replied\"}}\n"))
        .collect();
    p.write("events.jsonl", replies);
    let r = p.run(&[&args[..], &["--events", "events.jsonl"]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let won: Vec<_> = events(&r.stdout).into_iter().filter(|e| e["event"] == "winner").collect();
    assert_eq!(won.len(), 1, "{}", r.stdout);
    assert_eq!((won[0]["at"].as_str(), won[0]["variant"].as_str()), (Some("2026-03-03T09:00:00Z"), Some("b")));
    assert!(won[0]["reason"].as_str().unwrap().starts_with("replied: a 0/"), "{}", won[0]);

    let r = p.run(&["preview", "value", "--variant", "b"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("=== value/value variant b email to") && r.stdout.contains("Subject: A question"));
    assert!(!r.stdout.contains("variant a"), "{}", r.stdout);
    let r = p.run(&["preview", "value", "--variant", "c"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no step shown has a variant \"c\"; variants: value/a, value/b"), "{}", r.stderr);

    // A winner set by hand: campaigns list names it, a lead's preview is it.
    assert_eq!(p.run(&["leads", "import", "leads.csv"]).code, 0);
    let r = p.run(&["campaigns", "winner", "value", "value", "c"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("step value has no variant \"c\"; variants: a, b"), "{}", r.stderr);
    let a_lead = (0..60).map(|i| format!("l{i}@x.test")).find(|l| !to_b.contains(&l.as_str())).unwrap();
    let r = p.run(&["preview", "value", "--lead", &a_lead]);
    assert!(r.stdout.contains("variant a email"), "{}", r.stdout);
    let r = p.run(&["campaigns", "winner", "value", "value", "b"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p.run(&["campaigns", "list"]);
    assert!(
        r.stdout.contains("step value: variants a, b; test by replied, 20 each, confidence 0.95; winner b since"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("set by hand"), "{}", r.stdout);
    let r = p.run(&["preview", "value", "--lead", &a_lead]);
    assert!(r.stdout.contains("variant b email") && !r.stdout.contains("variant a"), "{}", r.stdout);
}
