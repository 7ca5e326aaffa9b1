use crate::helpers::Project;

#[test]
fn bundled_campaigns_pass_check() {
    let p = Project::bundled();
    let run = p.run(&["check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("4 campaign(s)"), "{}", run.stdout);
}

#[test]
fn the_fixture_passes_check() {
    let run = Project::fixture().run(&["check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn all_problems_across_files_are_reported_in_one_run() {
    let p = Project::fixture();
    p.edit("campaigns/drip.toml", "min_age = \"1d\"", "min_age = \"six months\"");
    p.edit("campaigns/lost.toml", "status = [\"lost\"]", "status = [\"lsot\"]");
    p.edit("templates/drip/welcome.txt.hbs", "{{lead.company}}", "{{lead.compnay}}");
    p.edit("templates/drip/guide.html.hbs", "{{lead.company}}", "{{#if lead.firstname}}{{/if}}");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    let e = run.errors();
    assert_eq!(e.len(), 4, "{}", run.stderr);
    let reported = |prefix: String, word: &str| {
        assert!(e.iter().any(|l| l.starts_with(&prefix) && l.contains(word)), "{prefix} {word}: {e:#?}");
    };
    reported(p.at("campaigns/drip.toml", "\"six months\""), "six months");
    reported(p.at("campaigns/lost.toml", "\"lsot\""), "lsot");
    reported(p.line_of("templates/drip/welcome.txt.hbs", "lead.compnay"), "lead.company");
    reported(p.line_of("templates/drip/guide.html.hbs", "lead.firstname"), "lead.first_name");
}

#[test]
fn missing_unsubscribe_link_fails_even_through_partials() {
    let p = Project::bundled();
    p.write("templates/partials/footer.txt.hbs", "--\n{{postal_address}}\n");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    let e = run.errors();
    assert!(!e.is_empty() && e.iter().all(|l| l.contains("unsubscribe_url") && l.contains(".txt.hbs")), "{e:#?}");
}

#[test]
fn missing_email_template_names_the_campaign_line_and_the_files_to_create() {
    let p = Project::fixture();
    std::fs::remove_file(p.path("templates/drip/guide.html.hbs")).unwrap();
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    let e = run.errors();
    let step = p.at("campaigns/drip.toml", "[[step]]\nid = \"guide\"");
    assert!(!e.is_empty() && e[0].starts_with(&step) && e[0].contains("drip/guide.html.hbs"), "{step} {e:#?}");
}

#[test]
fn template_syntax_errors_are_positioned() {
    let p = Project::fixture();
    p.write("templates/drip/guide.html.hbs", "<p>Hi</p>\n{{#if lead.company}}\n{{unsubscribe_url}}\n");
    p.edit("campaigns/drip.toml", "subject = \"Welcome", "subject = \"{{#each}} Welcome");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    let e = run.errors();
    assert_eq!(e.len(), 2, "no follow-on errors: {e:#?}");
    assert!(e.iter().any(|l| l.starts_with("templates/drip/guide.html.hbs:") && l.contains("syntax")), "{e:#?}");
    let subject = p.line_of("campaigns/drip.toml", "{{#each}}");
    assert!(e.iter().any(|l| l.starts_with(&subject)), "{subject} {e:#?}");
}

#[test]
fn junk_files_end_in_clear_messages_not_panics() {
    let junk: [(&str, Vec<u8>, &str); 5] = [
        ("campaigns/binary.toml", vec![0, 159, 146, 150, 255, 0], "UTF-8"),
        ("campaigns/empty.toml", vec![], "audience"),
        ("campaigns/huge.toml", vec![b'#'; 2 * 1024 * 1024], "limit"),
        ("campaigns/broken.toml", b"[audience\nstatus = ".to_vec(), "broken.toml:1:"),
        ("templates/nurture/junk.html.hbs", vec![0xff, 0xfe, 0], "UTF-8"),
    ];
    for (file, bytes, want) in junk {
        let p = Project::bundled();
        p.write(file, bytes);
        let run = p.run(&["check"]);
        assert_eq!(run.code, 1, "{file}: {}", run.stderr);
        assert!(
            run.errors().iter().any(|l| l.starts_with(file.split(':').next().unwrap()) && l.contains(want))
                || run.stderr.contains(want),
            "{file}: {}",
            run.stderr
        );
    }
}

#[test]
fn missing_folders_and_config_are_errors() {
    let p = Project::bundled();
    std::fs::remove_dir_all(p.path("templates")).unwrap();
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("templates: cannot read the templates folder"), "{}", run.stderr);
    assert!(run.stderr.contains("not found; create templates/"), "steps name the files they need: {}", run.stderr);

    let run = p.run_with(&["--config", "nope.toml", "check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nope.toml: cannot read"), "{}", run.stderr);
}

#[test]
fn unknown_config_key_is_positioned() {
    let p = Project::bundled();
    p.write("nurture.toml", "[mail]\npostal_address = \"x\"\n\n[policy]\nmax_email = 2\n");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nurture.toml:5:1: unknown field `max_email`"), "{}", run.stderr);
}

#[test]
fn campaign_status_outside_a_replaced_status_set_fails() {
    let p = Project::bundled();
    p.write(
        "nurture.toml",
        "[mail]\npostal_address = \"x\"\n[leads]\nstatuses = [\"new\", \"nurturing\", \"lost\", \"won\"]\n",
    );
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.errors().iter().any(|l| l.contains("\"disqualified\"")), "{}", run.stderr);
}

#[test]
fn empty_postal_address_warns_but_passes() {
    let p = Project::bundled();
    p.write("nurture.toml", "");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("warning: mail.postal_address"), "{}", run.stderr);
}

#[test]
fn bad_command_lines_exit_2() {
    let p = Project::bundled();
    assert_eq!(p.run(&["chekc"]).code, 2);
    assert_eq!(p.run(&["check", "--bogus"]).code, 2);
    assert_eq!(p.run(&["preview"]).code, 2);
}

#[test]
fn the_demo_configuration_passes_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nurture"))
        .args(["--config", "demo/nurture.toml", "check"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn under_json_logs_check_writes_only_json_lines() {
    let p = Project::fixture();
    let ok = p.run(&["--log-format", "json", "check"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.is_empty(), "no plain line on stdout: {}", ok.stdout);
    let lines: Vec<serde_json::Value> =
        ok.stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(lines.iter().any(|l| l["message"] == "Check passed." && l["campaigns"] == 3), "{}", ok.stderr);

    p.edit("campaigns/drip.toml", "min_age = \"1d\"", "min_age = \"soon\"");
    let bad = p.run(&["--log-format", "json", "check"]);
    assert_eq!(bad.code, 1);
    let lines: Vec<serde_json::Value> =
        bad.stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let problem = lines.iter().find(|l| l["message"] == "Check found a problem.").expect("the problem, as JSON");
    let at = p.at("campaigns/drip.toml", "\"soon\"");
    assert!(problem["problem"].as_str().unwrap().starts_with(&at), "{at} {problem}");
    assert!(lines.iter().any(|l| l["message"] == "Command failed."), "{}", bad.stderr);
}

#[test]
fn a_template_typo_is_reported_even_when_every_campaign_is_broken() {
    let p = Project::fixture();
    for file in ["campaigns/drip.toml", "campaigns/lost.toml", "campaigns/nudge.toml"] {
        p.edit(file, "[audience]", "[audience\n");
    }
    p.edit("templates/drip/welcome.txt.hbs", "{{lead.company}}", "{{lead.compnay}}");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    let e = run.errors();
    let at = p.line_of("templates/drip/welcome.txt.hbs", "lead.compnay");
    assert!(e.iter().any(|l| l.starts_with(&at) && l.contains("lead.company")), "{at} {e:#?}");
    assert!(e.iter().filter(|l| l.starts_with("campaigns/")).count() >= 3, "{e:#?}");
}

#[test]
fn a_javascript_or_data_link_warns_and_is_left_untracked() {
    let p = Project::bundled();
    p.edit(
        "templates/nurture/case-study.html.hbs",
        "{{> footer}}",
        "<a href=\"JavaScript:alert(1)\">x</a> <a href='data:text/html;base64,PHNjcmlwdD4='>y</a>\n{{> footer}}",
    );
    let run = p.run(&["check"]);
    assert_eq!(run.code, 0, "a warning, not an error: {}", run.stderr);
    for link in ["JavaScript:alert(1)", "data:text/html;base64,PHNjcmlwdD4="] {
        let at = p.at("templates/nurture/case-study.html.hbs", link);
        let warning = format!("{at} warning: link {link:?} is not an http(s) address: it is left untracked");
        assert!(run.stderr.contains(&warning), "{warning} in:\n{}", run.stderr);
    }
}
