use nurture::engine::events::Kind as Ev;

use crate::helpers::{Backend, World, both, days, utc};

/// A welcome email, then a call task an hour later assigned by `assign`.
fn call(assign: &str) -> String {
    format!(
        r#"
[audience]
status = ["nurturing"]
[enrol]
cron = "0 9 * * *"
[[step]]
id = "hello"
email = "t"
subject = "hello"
[[step]]
id = "call"
after = "1h"
task = "Call {{{{lead.first_name}}}}"
assign = "{assign}"
due = "1d"
"#
    )
}

async fn round_robin_tasks_reminders_and_digests(b: Backend) {
    let reps = "[[rep]]\nemail = \"r1@s.test\"\nname = \"Riley\"\ntimezone = \"America/New_York\"\n\
                [[rep]]\nemail = \"r2@s.test\"\n";
    let config = "[reminders]\nreps_file = \"reps.toml\"\ndigest = \"0 8 * * *\"\n";
    let w = World::with_files(b, config, &[("c", &call("round-robin"))], &[("reps.toml", reps)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(
        "email,first_name,status,phone,timezone\na@x.test,Ann,nurturing,+351 21 123 4567,Europe/Lisbon\n\
         b@x.test,Ben,nurturing,,\nc@x.test,Cat,nurturing,,\n",
        start,
    )
    .await;
    w.run(start, utc("2026-03-03T12:00:00Z")).await;

    let tasks: Vec<(String, String)> =
        w.events(Ev::Task).into_iter().map(|e| (e.lead.unwrap(), e.to.unwrap())).collect();
    assert_eq!(tasks.len(), 3);
    let to: Vec<&str> = tasks.iter().map(|t| t.1.as_str()).collect();
    assert_eq!(to, ["r1@s.test", "r2@s.test", "r1@s.test"], "in turn over the reps file");

    let reminders = w.events(Ev::Reminder);
    assert_eq!(reminders.len(), 3, "one reminder per task, at once");
    let mail = w.rec.sent.lock().unwrap().clone();
    let reminder = mail.iter().find(|m| m.to == "r1@s.test" && m.subject == "Task: Call Ann").unwrap();
    let text = &reminder.text;
    assert!(text.contains("Hi Riley"), "{text}");
    // Written for a person, in the rep's zone, with the lead's clock.
    assert!(text.contains("Who:        Ann\n") && text.contains("Phone:      +351 21 123 4567"), "{text}");
    assert!(text.contains("Due:        Tue 3 Mar 2026, 05:00 EST"), "due in New York time: {text}");
    assert!(text.contains("Their time: 10:00 (Mon) in Lisbon"), "the lead's clock when the task came: {text}");
    assert!(
        text.contains("Mon 2 Mar 2026, 04:00 EST  email sent (c)"),
        "what happened before, in the rep's zone: {text}"
    );
    assert!(!text.contains("task sent"), "the task itself is not in its own history: {text}");
    assert!(!text.contains("T09:00:00Z"), "no raw UTC: {text}");
    let other = mail.iter().find(|m| m.to == "r2@s.test").unwrap();
    assert!(
        other.text.contains("Due:        Tue 3 Mar 2026, 10:00 UTC"),
        "a rep without a zone: the config's: {}",
        other.text
    );
    assert!(!other.text.contains("Phone:") && !other.text.contains("Their time:"), "{}", other.text);
    let link = reminder.text.lines().find_map(|l| l.strip_prefix("Done? Mark it here: ")).unwrap();
    let token = link.strip_prefix("https://n.test/t/").unwrap().strip_suffix("/done").unwrap();
    let task_id = w.engine.links().done_task(token).expect("a valid signed link");

    let digests: Vec<(String, usize)> =
        w.events(Ev::Digest).into_iter().map(|e| (e.to.unwrap(), e.count.unwrap())).collect();
    assert_eq!(digests, [("r1@s.test".to_string(), 2), ("r2@s.test".to_string(), 1)]);

    let done = |at| w.engine.task_done(task_id, nurture::store::Source::Link, utc(at));
    assert!(matches!(done("2026-03-03T12:00:00Z").await.unwrap(), Some((_, true))));
    assert!(matches!(done("2026-03-03T12:00:00Z").await.unwrap(), Some((_, false))), "done once");
    w.run(utc("2026-03-03T12:00:00Z"), utc("2026-03-04T12:00:00Z")).await;
    let counts: Vec<usize> = w.events(Ev::Digest).into_iter().skip(2).map(|e| e.count.unwrap()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 2, "a done task leaves the digest");
    w.finish().await;
}
both!(round_robin_tasks_reminders_and_digests);

/// A rep with more open tasks than a digest lists gets the ones due first
/// and the count of the rest, not all of them.
async fn a_digest_lists_the_tasks_due_first_and_counts_the_rest(b: Backend) {
    let reps = "[[rep]]\nemail = \"r1@s.test\"\n";
    let config = "[reminders]\nreps_file = \"reps.toml\"\ndigest = \"0 8 * * *\"\n";
    let w = World::with_files(b, config, &[("c", &call("round-robin"))], &[("reps.toml", reps)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    let open = nurture::engine::DIGEST_TASKS as usize + 30;
    let mut csv = String::from("email,first_name,status\n");
    for i in 0..open {
        csv += &format!("l{i:03}@x.test,L{i:03},nurturing\n");
    }
    w.import(&csv, start).await;
    w.run(start, utc("2026-03-03T12:00:00Z")).await;
    let digests: Vec<usize> = w.events(Ev::Digest).into_iter().map(|e| e.count.unwrap()).collect();
    assert_eq!(digests, [open], "the count is every open task");
    let mail = w.rec.sent.lock().unwrap().clone();
    let digest = mail.iter().find(|m| m.subject == format!("{open} open tasks")).expect("the digest");
    let listed = digest.text.lines().filter(|l| l.trim_start().starts_with("Done: ")).count();
    assert_eq!(listed, nurture::engine::DIGEST_TASKS as usize, "{}", digest.text);
    assert!(digest.text.contains("...and 30 more, due later."), "{}", digest.text);
    assert!(digest.html.as_deref().unwrap_or("").contains("...and 30 more, due later."));
    w.finish().await;
}
both!(a_digest_lists_the_tasks_due_first_and_counts_the_rest);

async fn a_task_without_owner_or_reps_is_recorded_as_failed(b: Backend) {
    let w = World::new(b, "", &[("c", &call("owner"))]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import("email,status,owner\na@x.test,nurturing,\nb@x.test,nurturing,Rep@S.test\n", start).await;
    w.run(start, start + days(1)).await;
    let tasks: Vec<String> = w.events(Ev::Task).into_iter().map(|e| e.to.unwrap()).collect();
    assert_eq!(tasks, ["rep@s.test"]);
    let skipped = w.events(Ev::Skipped);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].reason.as_deref().unwrap().contains("no owner"), "{skipped:?}");
    w.finish().await;
}
both!(a_task_without_owner_or_reps_is_recorded_as_failed);

/// Two campaigns, each with two tasks: every task of a lead goes to one
/// rep, who becomes the lead's owner; a lead whose owner left the reps file
/// is given a current rep the same way; a named rep is only named.
async fn a_lead_without_an_owner_gets_one_rep_for_every_task(b: Backend) {
    let reps = "[[rep]]\nemail = \"r1@s.test\"\n[[rep]]\nemail = \"r2@s.test\"\n[[rep]]\nemail = \"r3@s.test\"\n";
    let config = "[reminders]\nreps_file = \"reps.toml\"\n";
    let two_tasks = |first: &str, second: &str| {
        format!(
            "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 9 * * *\"\n\
             [[step]]\nid = \"call\"\ntask = \"Call\"\nassign = \"{first}\"\n\
             [[step]]\nid = \"again\"\nafter = \"1d\"\ntask = \"Call again\"\nassign = \"{second}\"\n"
        )
    };
    let campaigns = [("a", two_tasks("round-robin", "owner")), ("b", two_tasks("owner", "round-robin"))];
    let campaigns: Vec<(&str, &str)> = campaigns.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let w = World::with_files(b, config, &campaigns, &[("reps.toml", reps)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import(
        "email,status,owner\nl1@x.test,nurturing,\nl2@x.test,nurturing,\nl3@x.test,nurturing,gone@s.test\n\
         l4@x.test,nurturing,r3@s.test\n",
        start,
    )
    .await;
    w.run(start, start + days(3)).await;
    let tasks = w.events(Ev::Task);
    assert_eq!(tasks.len(), 16, "two campaigns, two tasks, four leads");
    for lead in ["l1@x.test", "l2@x.test", "l3@x.test", "l4@x.test"] {
        let to: std::collections::BTreeSet<String> =
            tasks.iter().filter(|e| e.lead.as_deref() == Some(lead)).filter_map(|e| e.to.clone()).collect();
        assert_eq!(to.len(), 1, "{lead}'s tasks went to {to:?}");
        let owner = w.store().lead_by_email(lead).await.unwrap().unwrap().owner;
        assert_eq!(to.into_iter().next().unwrap(), owner, "{lead}: the rep is stored as the owner");
        assert!(owner.starts_with('r'), "{lead}: {owner} is a current rep");
    }
    let mut owners = Vec::new();
    for lead in ["l1@x.test", "l2@x.test", "l4@x.test"] {
        owners.push(w.store().lead_by_email(lead).await.unwrap().unwrap().owner);
    }
    assert_eq!(owners[2], "r3@s.test", "an owner in the reps file keeps the lead");
    assert_ne!(owners[0], owners[1], "turns go round");
    w.finish().await;
}
both!(a_lead_without_an_owner_gets_one_rep_for_every_task);

async fn a_named_rep_gets_the_task_and_the_owner_stays(b: Backend) {
    let w = World::new(b, "", &[("c", &call("boss@s.test"))]).await;
    let start = utc("2026-03-02T00:00:00Z");
    w.import("email,status,owner\na@x.test,nurturing,ann@s.test\n", start).await;
    w.run(start, start + days(1)).await;
    let to: Vec<String> = w.events(Ev::Task).into_iter().filter_map(|e| e.to).collect();
    assert_eq!(to, ["boss@s.test"]);
    assert_eq!(w.store().lead_by_email("a@x.test").await.unwrap().unwrap().owner, "ann@s.test");
    w.finish().await;
}
both!(a_named_rep_gets_the_task_and_the_owner_stays);
