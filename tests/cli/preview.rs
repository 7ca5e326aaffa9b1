use crate::helpers::Project;

#[test]
fn preview_renders_subject_text_and_html_with_the_sample_lead() {
    let p = Project::bundled();
    let run = p.run(&["preview", "winback", "--step", "check-in"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Subject: Still weighing your options at Acme Corp?"), "{}", run.stdout);
    assert!(run.stdout.contains("<!doctype html>\n<html lang=\"en\">"), "a whole HTML document: {}", run.stdout);
    assert!(run.stdout.contains("--- text ---\nHi Ana,"), "{}", run.stdout);
    assert!(run.stdout.contains("<a href=\"http://127.0.0.1:8080/u/"), "{}", run.stdout);
    assert!(!run.stdout.contains("whats-new"), "only the asked step");
}

#[test]
fn html_only_email_gets_a_derived_text_part() {
    let p = Project::bundled();
    let run = p.run(&["preview", "winback", "--step", "whats-new"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = run.stdout.split("--- text ---").nth(1).unwrap().split("--- html ---").next().unwrap();
    assert!(text.contains("Hi Ana,") && !text.contains("<p>"), "{text}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("Unsubscribe (http://127.0.0.1:8080/u/"), "links read as text (address): {text}");
}

/// A lead imported with nothing but an address reads naturally in every
/// bundled campaign: no "Still weighing 's options?".
#[test]
fn the_bundled_texts_read_well_for_a_lead_with_only_an_address() {
    let p = Project::bundled();
    std::fs::write(p.dir.path().join("bare.csv"), "email\nbare@x.test\n").unwrap();
    let import = p.run(&["leads", "import", "bare.csv"]);
    assert_eq!(import.code, 0, "{}", import.stderr);
    for (campaign, step) in
        [("winback", "check-in"), ("nurture", "guide"), ("requalify", "new-quarter"), ("speed-to-lead", "welcome")]
    {
        let run = p.run(&["preview", campaign, "--step", step, "--lead", "bare@x.test"]);
        assert_eq!(run.code, 0, "{campaign}/{step}: {}", run.stderr);
        for odd in [" 's", "  ", "about .", "for .", " at ?", "()"] {
            let subject = run.stdout.lines().find(|l| l.starts_with("Subject:")).unwrap_or("");
            assert!(!subject.contains(odd), "{campaign}/{step} subject: {subject}");
        }
        assert!(!run.stdout.contains("about .") && !run.stdout.contains(" 's"), "{campaign}/{step}: {}", run.stdout);
    }
}

#[test]
fn task_steps_show_text_assignee_and_due() {
    let p = Project::bundled();
    let run = p.run(&["preview", "winback", "--step", "call"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("task for owner rep@example.com"), "{}", run.stdout);
    assert!(run.stdout.contains("Task: Call Ana at Acme Corp: lost to budget"), "{}", run.stdout);
}

#[test]
fn subjects_are_not_html_escaped_but_html_parts_are() {
    let p = Project::bundled();
    p.edit(
        "campaigns/winback.toml",
        "subject = \"What changed since we last spoke\"",
        "subject = \"Q&A <for> {{lead.company}}\"",
    );
    p.write(
        "templates/winback/whats-new.html.hbs",
        "<p>{{campaign.name}} & {{lead.attributes.note}}</p><a href=\"{{unsubscribe_url}}\">u</a>",
    );
    p.edit("campaigns/winback.toml", "name = \"Win back deals lost six months ago\"", "name = \"Tom & Jerry <deals>\"");
    let run = p.run(&["preview", "winback", "--step", "whats-new"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Subject: Q&A <for> Acme Corp"), "{}", run.stdout);
    assert!(run.stdout.contains("<p>Tom &amp; Jerry &lt;deals&gt; & sample note</p>"), "{}", run.stdout);
}

#[test]
fn unknown_campaign_or_step_is_exit_1_with_the_known_names() {
    let p = Project::bundled();
    let run = p.run(&["preview", "winbak"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("known: nurture, requalify, speed-to-lead, winback"), "{}", run.stderr);
    let run = p.run(&["preview", "winback", "--step", "nope"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("check-in, call, whats-new"), "{}", run.stderr);
}

#[test]
fn reminder_templates_can_be_overridden() {
    let p = Project::bundled();
    p.write("templates/reminders/task.txt.hbs", "{{task.text}} {{lead.compnay}}\n");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("templates/reminders/task.txt.hbs:1:") && run.stderr.contains("lead.company"),
        "{}",
        run.stderr
    );
}
