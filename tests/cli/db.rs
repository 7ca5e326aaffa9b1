//! The database commands on the embedded SQLite default.

use crate::helpers::Project;

const LEADS: &str = "email,first_name,company,owner,status,status_changed_at,lost_reason,timezone,region
ana@acme.test,Ana,Acme,rep1@sales.test,new,,,Europe/Lisbon,emea
bo@bolt.test,Bo,Bolt,rep2@sales.test,lost,2025-10-01,budget,Asia/Tokyo,apac
";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn import_enrols_at_once_and_status_reports_every_final_state() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    let run = p.run(&["leads", "import", "leads.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("imported 2 lead(s)"), "{}", run.stdout);
    let status = json(&p.run(&["status", "--json"]).stdout);
    assert_eq!(status["active_enrolments"], 2, "speed-to-lead for ana, win-back for bo: {status}");
    for key in ["due_now", "sent_24h", "failed_24h", "uncertain_24h", "open_tasks", "next_due_at"] {
        assert!(status.get(key).is_some(), "{key} missing: {status}");
    }
    for state in ["sent", "failed", "bounced", "suppressed", "uncertain", "cancelled"] {
        assert_eq!(status["total"][state], 0, "{state}: {status}");
    }
}

#[test]
fn a_bad_row_rejects_the_whole_file() {
    let p = Project::bundled();
    p.write("leads.csv", format!("{LEADS}cy@cog.test,Cy,Cog,,nurturing,,,Mars/Base,na\n"));
    let run = p.run(&["leads", "import", "leads.csv"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("leads.csv:4:1:") && run.stderr.contains("Mars/Base"), "{}", run.stderr);
    assert_eq!(p.run(&["preview", "winback", "--lead", "bo@bolt.test"]).code, 1, "nothing was written");
}

#[test]
fn every_bad_row_is_listed_and_a_header_near_a_lead_field_is_a_warning() {
    let p = Project::bundled();
    p.write("bad.csv", "email,status\nnot-an-address,new\nok@x.test,gone\nfine@x.test,new\n");
    let run = p.run(&["leads", "import", "bad.csv"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("bad.csv:2:1:") && run.stderr.contains("bad.csv:3:1:"), "both rows: {}", run.stderr);
    assert!(run.stderr.contains("nothing was imported"), "{}", run.stderr);
    p.write("typo.csv", "email,frist_name,phone,status\nana@x.test,Ana,+1 212 555 0100,new\n");
    let run = p.run(&["leads", "import", "typo.csv"]);
    assert_eq!(run.code, 0, "a warning, not a refusal: {}", run.stderr);
    assert!(run.stderr.contains("typo.csv:1:1: warning: column `frist_name`"), "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `first_name`?"), "{}", run.stderr);
    let shown = p.run(&["leads", "show", "ana@x.test"]);
    assert!(shown.stdout.contains("phone: +1 212 555 0100"), "{}", shown.stdout);
}

#[test]
fn status_changes_replies_and_suppressions_end_enrolments() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    p.run(&["leads", "import", "leads.csv"]);
    let run = p.run(&["leads", "set-status", "ANA@acme.test", "won"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("left speed-to-lead"), "{}", run.stdout);
    let run = p.run(&["suppress", "bo@bolt.test"]);
    assert!(run.stdout.contains("left winback (suppressed)"), "{}", run.stdout);
    let status = json(&p.run(&["status", "--json"]).stdout);
    assert_eq!(status["active_enrolments"], 0);
    assert!(status["total"]["cancelled"].as_i64().unwrap() >= 5, "remaining steps recorded: {status}");
    assert_eq!(p.run(&["leads", "event", "ana@acme.test", "replied"]).code, 0);

    // Each change, in the lead's history, with who made it.
    let show = json(&p.run(&["leads", "show", "Ana@Acme.test", "--json"]).stdout);
    let kinds: Vec<String> = show["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"].is_string())
        .map(|e| {
            format!(
                "{} {} {}",
                e["kind"].as_str().unwrap(),
                e["detail"].as_str().unwrap(),
                e["source"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(kinds, ["replied  cli", "status new -> won cli", "status -> new csv"], "{show}");
    let text = p.run(&["leads", "show", "bo@bolt.test"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("suppressed  added by hand [cli]"), "{}", text.stdout);
    assert!(text.stdout.contains("suppressed: no marketing email goes to this address"), "{}", text.stdout);
    assert_eq!(p.run(&["leads", "show", "nobody@x.test"]).code, 1);
}

#[test]
fn unknown_leads_statuses_and_tasks_are_invalid_input() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    p.run(&["leads", "import", "leads.csv"]);
    assert_eq!(p.run(&["leads", "set-status", "nobody@x.test", "won"]).code, 1);
    assert_eq!(p.run(&["leads", "set-status", "ana@acme.test", "closed"]).code, 1);
    assert_eq!(p.run(&["tasks", "done", "42"]).code, 1);
    assert_eq!(p.run(&["suppress", "not-an-email"]).code, 1);
    assert_eq!(p.run(&["leads", "event", "ana@acme.test", "clicked"]).code, 2);
}

#[test]
fn preview_renders_a_stored_lead() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    p.run(&["leads", "import", "leads.csv"]);
    let run = p.run(&["preview", "winback", "--step", "call", "--lead", "bo@bolt.test"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Call Bo at Bolt: lost to budget"), "{}", run.stdout);
}

#[test]
fn forecast_counts_per_day_campaign_and_step_and_writes_nothing() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    p.run(&["leads", "import", "leads.csv"]);
    let before = p.run(&["status", "--json"]).stdout;
    let run = p.run(&["forecast", "--days", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.lines().any(|l| l.contains("speed-to-lead") && l.contains("call-now") && l.contains("task")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.lines().any(|l| l.contains("winback") && l.contains("check-in")), "{}", run.stdout);
    assert_eq!(p.run(&["status", "--json"]).stdout, before, "read-only");
}

#[test]
fn database_url_from_the_environment_wins() {
    let p = Project::bundled();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nurture"))
        .args(["--config", "nurture.toml", "migrate"])
        .current_dir(p.dir.path())
        .env("NURTURE_DATABASE_URL", format!("sqlite://{}", p.path("elsewhere.db").display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(p.path("elsewhere.db").exists());
    assert!(!p.path("var/nurture.db").exists());
}

#[test]
fn an_unreachable_database_is_an_environment_failure() {
    let p = Project::bundled();
    p.write("nurture.toml", "[database]\nurl = \"postgres://nobody@127.0.0.1:1/none\"\n");
    let run = p.run(&["status"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
}

/// Hostile values in a CSV (SQL metacharacters, markup, an overlong field)
/// are stored as given, escaped in HTML, and change nothing else.
#[test]
fn a_file_that_is_not_utf8_is_refused_whole_with_line_column_and_the_fix() {
    let p = Project::bundled();
    p.write("leads.csv", b"email,company,status\nana@acme.test,Acme,new\nbo@bolt.test,M\xfcller GmbH,new\n");
    let run = p.run(&["leads", "import", "leads.csv"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("leads.csv:3:1: not UTF-8 text in column 2 (`company`)"), "{}", run.stderr);
    assert!(run.stderr.contains("save the file as UTF-8"), "{}", run.stderr);
    assert_eq!(p.run(&["preview", "speed-to-lead", "--lead", "ana@acme.test"]).code, 1, "nothing was written");
}

#[test]
fn a_line_break_in_an_address_is_refused_and_in_a_name_is_kept_as_data() {
    let p = Project::bundled();
    p.write("bad.csv", "email,status\n\"eve@evil.test\r\nBcc: victim@x.test\",new\n");
    let run = p.run(&["leads", "import", "bad.csv"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("bad.csv:2:1:") && run.stderr.contains("is not an email address"), "{}", run.stderr);
    p.write("ok.csv", "email,first_name,status\neve@evil.test,\"Eve\r\nBcc: victim@x.test\",new\n");
    assert_eq!(p.run(&["leads", "import", "ok.csv"]).code, 0);
    let preview = p.run(&["preview", "speed-to-lead", "--step", "welcome", "--lead", "eve@evil.test"]);
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    assert!(preview.stdout.contains("Bcc: victim@x.test"), "the name is kept as given: {}", preview.stdout);
}

#[test]
fn hostile_lead_fields_are_stored_verbatim_and_escaped_in_html() {
    let p = Project::bundled();
    // As long as a last name may be (README: 100 characters).
    let long = "x".repeat(100);
    let csv = format!(
        "email,first_name,last_name,company,owner,status,region\n\
         eve@evil.test,\"Eve\"\"); DROP TABLE leads;--\",{long},<script>alert(1)</script>,rep@sales.test,new,\"'; DELETE FROM leads; --\"\n\
         ana@acme.test,Ana,Alves,Acme,rep@sales.test,new,emea\n"
    );
    p.write("leads.csv", &csv);
    let longer = csv.replace(&long, &format!("{long}x"));
    p.write("longer.csv", longer);
    let refused = p.run(&["leads", "import", "longer.csv"]);
    assert_eq!(refused.code, 1, "one character more is refused");
    assert!(refused.stderr.contains("longer.csv:2:") && refused.stderr.contains("last_name is 101 characters long"));
    assert_eq!(p.run(&["leads", "import", "leads.csv"]).code, 0);

    let html = p.run(&["preview", "speed-to-lead", "--step", "welcome", "--lead", "eve@evil.test"]);
    assert_eq!(html.code, 0, "{}", html.stderr);
    assert!(html.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "escaped in HTML: {}", html.stdout);
    assert!(!html.stdout.contains("<p>Thanks for getting in touch about <script>"), "{}", html.stdout);
    assert!(html.stdout.contains("Eve\"); DROP TABLE leads;--"), "stored and rendered as given: {}", html.stdout);
    let task = p.run(&["preview", "speed-to-lead", "--step", "call-now", "--lead", "eve@evil.test"]);
    assert!(task.stdout.contains(&long), "the longest field is kept whole");

    // Both leads are still there and enrolled: nothing was executed.
    let status = json(&p.run(&["status", "--json"]).stdout);
    assert!(status["active_enrolments"].as_i64().unwrap() >= 2, "{status}");
    assert_eq!(p.run(&["preview", "speed-to-lead", "--step", "welcome", "--lead", "ana@acme.test"]).code, 0);
}

#[test]
fn campaigns_are_listed_paused_and_resumed_by_hand() {
    let p = Project::bundled();
    let list = p.run(&["campaigns", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("winback") && list.stdout.contains("enabled"), "{}", list.stdout);
    let unknown = p.run(&["campaigns", "pause", "winbak"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("unknown campaign \"winbak\"") && unknown.stderr.contains("winback"));

    assert_eq!(p.run(&["campaigns", "pause", "winback"]).code, 0);
    let list = p.run(&["campaigns", "list"]).stdout;
    let line = list.lines().find(|l| l.starts_with("winback")).unwrap();
    assert!(line.contains("paused by hand since"), "{list}");
    assert!(p.run(&["campaigns", "pause", "winback"]).stdout.contains("already paused"));

    assert_eq!(p.run(&["campaigns", "pause", "all"]).code, 0);
    assert!(p.run(&["campaigns", "list"]).stdout.starts_with("ALL SENDING PAUSED"), "the sending pause comes first");
    assert!(p.run(&["campaigns", "resume", "all"]).stdout.contains("resumed"));
    assert!(p.run(&["campaigns", "resume", "winback"]).stdout.contains("resumed"));
    let list = p.run(&["campaigns", "list"]).stdout;
    assert!(!list.contains("paused"), "{list}");
    assert!(p.run(&["campaigns", "resume", "winback"]).stdout.contains("was not paused"));
}

#[test]
fn forecast_on_a_new_database_says_there_is_nothing_to_forecast() {
    let p = Project::bundled();
    let run = p.run(&["forecast", "--days", "7"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "nothing would happen in the next 7 day(s)", "one line, no empty table");
}

#[test]
fn report_counts_enrolments_per_campaign_and_filters_by_campaign_and_date() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    p.run(&["leads", "import", "leads.csv"]);
    let all = json(&p.run(&["report", "--json"]).stdout);
    let enrolled: Vec<(String, i64)> = all["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["campaign"].as_str().unwrap().to_string(), c["enrolled"].as_i64().unwrap()))
        .collect();
    assert_eq!(enrolled, [("speed-to-lead".to_string(), 1), ("winback".to_string(), 1)], "{all}");
    assert_eq!(all["goal"], serde_json::json!(["sales_ready", "won"]));
    let one = json(&p.run(&["report", "--campaign", "winback", "--json"]).stdout);
    assert_eq!(one["campaigns"].as_array().unwrap().len(), 1);
    let later = p.run(&["report", "--since", "2099-01-01"]);
    assert_eq!(later.code, 0, "{}", later.stderr);
    assert!(later.stdout.contains("no campaign activity in this period"), "{}", later.stdout);
    assert_eq!(p.run(&["report", "--since", "last tuesday"]).code, 2);
}

#[test]
fn explain_says_why_for_each_campaign_and_refuses_unknown_leads_and_campaigns() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    p.run(&["leads", "import", "leads.csv"]);
    let e = json(&p.run(&["explain", "bo@bolt.test", "--json"]).stdout);
    let campaigns = e["campaigns"].as_array().unwrap();
    let state = |id: &str| campaigns.iter().find(|c| c["campaign"] == id).unwrap().clone();
    assert_eq!(state("winback")["state"], "enrolled", "{e}");
    assert!(state("winback")["goes_at"].is_string(), "{e}");
    assert_eq!(state("nurture")["state"], "not enrolled");
    assert!(state("nurture")["why"][0].as_str().unwrap().contains("status lost is not in the audience"), "{e}");
    assert_eq!(e["lead"]["email"], "bo@bolt.test");
    let text = p.run(&["explain", "bo@bolt.test", "--campaign", "winback"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("winback: enrolled, next step"), "{}", text.stdout);
    assert_eq!(p.run(&["explain", "nobody@x.test"]).code, 1);
    let wrong = p.run(&["explain", "bo@bolt.test", "--campaign", "winbak"]);
    assert_eq!(wrong.code, 1);
    assert!(wrong.stderr.contains("known: "), "{}", wrong.stderr);
}

#[test]
fn check_with_the_database_says_which_enrolments_an_edit_ends() {
    let p = Project::bundled();
    p.write("leads.csv", LEADS);
    p.run(&["leads", "import", "leads.csv"]);
    let before = p.run(&["check", "--database"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(before.stdout.contains("winback: 1 active enrolment(s) (1 at check-in)"), "{}", before.stdout);
    // The step bo waits at leaves the file.
    p.edit("campaigns/winback.toml", "id = \"check-in\"", "id = \"check-in-2\"");
    let after = p.run(&["check", "--database"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(after.stdout.contains("1 wait at step check-in, no longer in the file, and will end"), "{}", after.stdout);
    assert!(!p.run(&["check"]).stdout.contains("active enrolment"), "offline without the flag");
}

/// A webhook whose receiver answered 410 is named by `check --database`
/// and `webhooks list` until a replay enables it.
#[test]
fn a_disabled_webhook_is_named_by_check_and_list_until_a_replay() {
    let p = Project::bundled();
    let config = std::fs::read_to_string(p.path("nurture.toml")).unwrap();
    p.write("nurture.toml", format!("{config}\n[[webhook]]\nname = \"crm\"\nurl = \"http://127.0.0.1:9/hook\"\n"));
    assert_eq!(p.run(&["check", "--database"]).code, 0, "creates the database");
    let disable = format!(
        "import sqlite3; c = sqlite3.connect({:?}); c.execute(\"INSERT INTO webhook_cursors (webhook, last_event_id, \
         disabled_at, disabled_why) VALUES ('crm', 0, '2026-12-01T09:00:00Z', '410 Gone: the receiver asked for no \
         more')\"); c.commit()",
        p.path("var/nurture.db").display().to_string()
    );
    let ok = std::process::Command::new("python3").args(["-c", &disable]).status().unwrap();
    assert!(ok.success());
    let check = p.run(&["check", "--database"]);
    assert_eq!(check.code, 0, "a warning: {}", check.stderr);
    assert!(
        check.stderr.contains("warning: webhook crm disabled since 2026-12-01T09:00:00Z (410 Gone"),
        "{}",
        check.stderr
    );
    assert!(p.run(&["webhooks", "list"]).stdout.contains("DISABLED since 2026-12-01T09:00:00Z"), "list says so too");
    assert_eq!(p.run(&["webhooks", "replay", "all"]).code, 0);
    assert!(!p.run(&["check", "--database"]).stderr.contains("disabled"), "enabled again");
}

/// What nurture writes holds personal data: the database, its WAL, the
/// link secret, the outbox and backups are its user's alone (files 0600,
/// folders 0700), even when started with a permissive umask.
#[test]
fn files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::bundled();
    p.write("leads.csv", "email,status\nana@x.test,new\n");
    let exe = env!("CARGO_BIN_EXE_nurture");
    for args in ["leads import leads.csv", "simulate --days 1", "backup backups/one.db"] {
        let shell = format!("umask 000; exec {exe} --config nurture.toml {args}");
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &shell])
            .current_dir(p.dir.path())
            .env_remove("NURTURE_DATABASE_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut seen = 0;
    let mut walk = vec![p.path("var"), p.path("backups")];
    while let Some(path) = walk.pop() {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if path.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            walk.extend(std::fs::read_dir(&path).unwrap().flatten().map(|e| e.path()));
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 3, "the database, the secret and the backup at least: {seen} files");
}
