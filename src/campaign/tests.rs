use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::config::Config;
use crate::diag::Diagnostics;
use crate::source::Source;

const WINBACK: &str = r#"
name = "Win back"
[audience]
status = ["lost", "disqualified"]
lost_reason = ["budget"]
min_age = "180d"
max_age = "720d"
attributes = { region = ["emea", "na"], tier = "gold" }
[enrol]
cron = "0 9 * * Mon-Fri"
timezone = "Europe/London"
again_after = "365d"
[window]
days = ["Mon", "Fri"]
hours = "09:00-17:00"
timezone = "America/New_York"
skip_dates = ["2026-12-24", 2026-12-25]
[exit]
when_status = ["won"]
on_reply = false
[[step]]
id = "hello"
email = "winback/hello"
subject = "Hi {{lead.first_name}}"
[[step]]
id = "call"
after = "1d 12h"
task = "Call {{lead.first_name}}"
assign = "Rep@Sales.test"
due = "2d"
"#;

fn load(text: &str) -> (Option<Campaign>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("winback.toml");
    std::fs::write(&path, text).unwrap();
    let mut diags = Diagnostics::default();
    let config = Config::from_file(&Source::new(dir.path().join("nurture.toml"), ""), &mut Diagnostics::default());
    let c = load_file(&path, &config, &mut diags);
    let prefix = format!("{}:", path.display());
    let errors = diags.errors().map(|d| d.to_string().replace(&prefix, "")).collect();
    (c, errors)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn full_campaign_loads_every_section() {
    let (c, errors) = load(WINBACK);
    assert!(errors.is_empty(), "{errors:?}");
    let c = c.unwrap();
    assert_eq!((c.id.as_str(), c.name.as_str(), c.enabled), ("winback", "Win back", true));
    assert_eq!(c.audience.min_age, Some(TimeDelta::days(180)));
    assert_eq!(c.audience.attributes["tier"], vec!["gold"]);
    assert_eq!(c.enrol.timezone, chrono_tz::Europe::London);
    assert_eq!(c.enrol.again_after, Some(TimeDelta::days(365)));
    assert_eq!(c.window.zone, Zone::Fixed(chrono_tz::America::New_York));
    assert_eq!(c.window.window.skip_dates.len(), 2, "quoted and bare TOML dates");
    assert!(!c.exit.on_reply);
    assert_eq!(c.steps[1].after, TimeDelta::hours(36));
    assert_eq!(
        c.steps[1].action,
        Action::Task {
            text: "Call {{lead.first_name}}".into(),
            assign: Assign::Rep("rep@sales.test".into()),
            due: TimeDelta::days(2)
        }
    );
}

#[test]
fn minimal_campaign_gets_defaults() {
    let (c, errors) = load("[audience]\nstatus = [\"new\"]\n[[step]]\nid = \"a\"\nemail = \"x\"\nsubject = \"s\"\n");
    assert!(errors.is_empty(), "{errors:?}");
    let c = c.unwrap();
    assert_eq!(c.name, "winback");
    assert_eq!(c.enrol.cron.as_str(), DEFAULT_ENROL_CRON);
    assert_eq!(c.window.zone, Zone::Lead);
    assert_eq!(c.window.window, crate::schedule::Window::always());
    assert!(c.exit.on_reply && c.exit.when_status.is_none());
    assert_eq!(c.steps[0].after, TimeDelta::zero());
}

#[test]
fn every_error_in_a_file_is_reported_at_its_line() {
    let text = r#"[audience]
status = ["lost", "gone"]
min_age = "6 months"
[enrol]
cron = "0 9 * *"
timezone = "europe/london"
[window]
days = ["Mon", "Funday"]
hours = "17:00-09:00"
skip_dates = ["2026-13-01"]
[[step]]
id = "a"
email = "../etc/passwd"
subject = "x"
[[step]]
id = "a"
task = "t"
[[step]]
id = "c"
task = "t"
assign = "someone"
[[step]]
id = "d"
"#;
    let (c, errors) = load(text);
    assert!(c.is_none());
    let lines: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap()).collect();
    for line in ["2", "3", "5", "6", "8", "9", "10", "13", "16", "21", "22"] {
        assert!(lines.contains(&line), "no error on line {line}: {errors:#?}");
    }
    assert!(errors.iter().any(|e| e.contains("\"gone\"") && e.contains("known statuses")), "{errors:#?}");
    assert!(errors.iter().any(|e| e.contains("did you mean \"Europe/London\"")), "{errors:#?}");
}

#[test]
fn unknown_key_is_positioned() {
    let (c, errors) = load(&WINBACK.replace("after = \"1d 12h\"", "afterr = \"1d\""));
    assert!(c.is_none());
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("27:1: unknown field `afterr`"), "{errors:?}");
}

#[test]
fn structural_mistakes_have_clear_messages() {
    let cases = [
        ("[[step]]\nid = \"a\"\nemail = \"x\"\nsubject = \"s\"\n", "no [audience]"),
        ("[audience]\nstatus = [\"new\"]\n", "at least one step"),
        ("[audience]\nstatus = [\"new\"]\n[[step]]\nid = \"a\"\nemail = \"x\"\n", "needs subject"),
        (
            "[audience]\nstatus = [\"new\"]\n[[step]]\nid = \"a\"\nemail = \"x\"\ntask = \"t\"\nsubject = \"s\"\n",
            "both email and task",
        ),
        ("[audience]\nstatus = [\"new\"]\n[[step]]\nid = \"a\"\ntask = \"t\"\nassign = \"round-robin\"\n", "reps_file"),
        ("[audience]\nstatus = [\"new\"]\n[window]\ndays = []\n[[step]]\nid = \"a\"\ntask = \"t\"\n", "days is empty"),
        (
            "[audience]\nstatus = [\"new\"]\nmin_age = \"30d\"\nmax_age = \"1d\"\n[[step]]\nid = \"a\"\ntask = \"t\"\n",
            "max_age is shorter",
        ),
    ];
    for (text, want) in cases {
        let (_, errors) = load(text);
        assert!(errors.iter().any(|e| e.contains(want)), "{want:?} not in {errors:#?}");
    }
}

#[test]
fn audience_matches_status_reason_age_and_attributes() {
    let (c, _) = load(WINBACK);
    let c = c.unwrap();
    let now = utc("2026-06-01T00:00:00Z");
    let mut lead = crate::lead::Lead::sample("lost", now);
    lead.status_changed_at = now - TimeDelta::days(200);
    lead.attributes.insert("region".into(), "emea".into());
    lead.attributes.insert("tier".into(), "gold".into());
    assert!(c.audience.matches(&lead, now));
    type Change = fn(&mut crate::lead::Lead, DateTime<Utc>);
    let variants: [(&str, Change); 5] = [
        ("status", |l, _| l.status = "won".into()),
        ("reason", |l, _| l.lost_reason = "competitor".into()),
        ("too young", |l, now| l.status_changed_at = now - TimeDelta::days(179)),
        ("too old", |l, now| l.status_changed_at = now - TimeDelta::days(721)),
        ("attribute", |l, _| l.attributes.insert("region".into(), "apac".into()).map_or((), |_| ())),
    ];
    for (why, change) in variants {
        let mut l = lead.clone();
        change(&mut l, now);
        assert!(!c.audience.matches(&l, now), "{why} should not match");
    }
}

#[test]
fn exit_follows_when_status_or_else_the_audience() {
    let (c, _) = load(WINBACK);
    let c = c.unwrap();
    let mut lead = crate::lead::Lead::sample("nurturing", Utc::now());
    assert_eq!(c.exit_reason(&lead), None, "when_status replaces the audience rule");
    lead.status = "won".into();
    assert!(c.exit_reason(&lead).unwrap().contains("won"));

    let (d, _) = load("[audience]\nstatus = [\"lost\"]\n[[step]]\nid = \"a\"\ntask = \"t\"\n");
    let d = d.unwrap();
    assert!(d.exit_reason(&lead).is_some());
    lead.status = "lost".into();
    assert_eq!(d.exit_reason(&lead), None);
}

#[test]
fn duplicate_ids_across_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let body = "[audience]\nstatus = [\"new\"]\n[[step]]\nid = \"a\"\ntask = \"t\"\n";
    std::fs::create_dir(dir.path().join("campaigns")).unwrap();
    std::fs::write(dir.path().join("campaigns/one.toml"), format!("id = \"same\"\n{body}")).unwrap();
    std::fs::write(dir.path().join("campaigns/two.toml"), format!("id = \"same\"\n{body}")).unwrap();
    let mut diags = Diagnostics::default();
    let config = Config::from_file(&Source::new(dir.path().join("nurture.toml"), ""), &mut Diagnostics::default());
    let all = load_all(&config, &mut diags);
    assert_eq!(all.len(), 1);
    assert!(diags.errors().any(|d| d.path.ends_with(Path::new("two.toml")) && d.message.contains("unique")));
}

const TESTED: &str = r#"
[audience]
status = ["nurturing"]
[[step]]
id = "value"
email = "value/a"
subject = "What {{lead.company}} could save"
[[step.variant]]
id = "a"
[[step.variant]]
id = "b"
email = "value/b"
subject = "A question about {{lead.company}}"
weight = 3
[step.test]
metric = "handoff"
min_sample = 150
"#;

#[test]
fn variants_take_what_they_leave_out_from_their_step() {
    let (c, errors) = load(TESTED);
    assert!(errors.is_empty(), "{errors:?}");
    let step = &c.unwrap().steps[0];
    let (a, b) = (&step.variants[0], &step.variants[1]);
    assert_eq!(
        (a.template.as_str(), a.subject.as_str(), a.own_subject, a.weight),
        ("value/a", "What {{lead.company}} could save", false, 1.0)
    );
    assert_eq!((b.template.as_str(), b.own_subject, b.weight), ("value/b", true, 3.0));
    let t = step.test.unwrap();
    assert_eq!((t.metric, t.min_sample, t.confidence), (crate::abtest::Metric::Handoff, 150, 0.95));
    let form = step.form("c", Some(b)).unwrap();
    assert_eq!((form.template, form.subject.as_str(), form.variant), ("value/b", "@c/value#b", "b"));
    assert_eq!(step.form("c", Some(a)).unwrap().subject, "@c/value", "a's subject is the step's");
    assert_eq!(step.variant_for("c", "x@y.test", Some("b")).unwrap().id, "b", "a winner overrides the hash");
}

#[test]
fn variant_mistakes_are_named_at_their_line() {
    let cases = [
        (TESTED.replace("id = \"b\"", "id = \"a\""), "variant id \"a\" is used twice in step \"value\""),
        (TESTED.replace("weight = 3", "weight = 0"), "must be a number above 0"),
        (TESTED.replace("weight = 3", "weight = \"heavy\""), "must be a number above 0"),
        (TESTED.replace("metric = \"handoff\"", "metric = \"opened\""), "unknown metric \"opened\"; write one of replied, clicked, handoff, converted"),
        (TESTED.replace("min_sample = 150", "min_sample = 3"), "min_sample 3"),
        (TESTED.replace("min_sample = 150", "confidence = 1.5"), "confidence 1.5"),
        (TESTED.replace("email = \"value/a\"\n", ""), "variant \"a\" has no email and step \"value\" has none"),
        (TESTED.replace("[[step.variant]]\nid = \"b\"", "[[step.x]]\nid = \"b\"").replace("[[step.x]]\nid = \"b\"\nemail = \"value/b\"\nsubject = \"A question about {{lead.company}}\"\nweight = 3\n", ""), "[step.test] needs two or more [[step.variant]]"),
    ];
    for (text, wanted) in cases {
        let (c, errors) = load(&text);
        assert!(c.is_none(), "{wanted}");
        assert!(errors.iter().any(|e| e.contains(wanted)), "{wanted}: {errors:?}");
        assert!(errors.iter().all(|e| e.starts_with(char::is_numeric)), "positioned: {errors:?}");
    }
    let task = "[audience]\nstatus = [\"nurturing\"]\n[[step]]\nid = \"call\"\ntask = \"Call\"\n[[step.variant]]\nid = \"a\"\n";
    let (_, errors) = load(task);
    assert!(errors.iter().any(|e| e.contains("[[step.variant]] applies to email steps")), "{errors:?}");
}
