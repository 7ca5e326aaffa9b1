use serde_json::json;

use super::*;
use crate::diag::Diagnostics;

fn templates(files: &[(&str, &str)]) -> (Templates, Diagnostics) {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let mut diags = Diagnostics::default();
    let t = load(dir.path(), &[], &mut diags);
    (t, diags)
}

#[test]
fn default_helper_falls_back_on_missing_null_and_blank() {
    let (t, d) = templates(&[("a.txt.hbs", "{{default lead.first_name \"there\"}}|{{default lead.x \"x\"}}")]);
    assert!(!d.has_errors(), "{d}");
    for (first, want) in [(json!("Ana"), "Ana|x"), (json!("  "), "there|x"), (json!(null), "there|x")] {
        let got = t.render_text("a", &json!({"lead": {"first_name": first}})).unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn strict_mode_rejects_unknown_names_with_file_and_position() {
    let (t, _) = templates(&[("x/a.txt.hbs", "Hi\n {{lead.nope}}")]);
    let err = t.render_text("x/a", &json!({"lead": {}})).unwrap_err().to_string();
    assert!(
        err.ends_with("x/a.txt.hbs:2:2: unknown variable `lead.nope` (see the variable list in the README)"),
        "{err}"
    );
}

#[test]
fn html_only_email_derives_text_and_keeps_link_targets() {
    let (t, _) = templates(&[("e.html.hbs", "<p>Hello <b>{{name}}</b></p><a href=\"{{url}}\">Unsubscribe</a>")]);
    let mut t = t;
    let mut d = Diagnostics::default();
    t.add("@c/s", false, "Hi {{name}}", Origin { file: "c.toml".into(), inline_at: Some((3, 11)) }, false, &mut d);
    let email = t.render_email("e", "@c/s", &json!({"name": "A&B", "url": "https://x.test/u/1"})).unwrap();
    assert_eq!(email.subject, "Hi A&B", "subjects are not HTML-escaped");
    assert!(email.html.as_deref().unwrap().contains("<b>A&amp;B</b>"), "HTML parts are escaped");
    assert!(email.text.contains("Hello A&B") && email.text.contains("https://x.test/u/1"), "{}", email.text);
    assert!(!email.text.contains("<p>"));
}

#[test]
fn partials_serve_their_own_part_and_plain_hbs_serves_both() {
    let (t, d) = templates(&[
        ("partials/f.html.hbs", "<i>{{x}}</i>"),
        ("partials/f.txt.hbs", "_{{x}}_"),
        ("partials/both.hbs", "[{{x}}]"),
        ("e.html.hbs", "{{> f}}{{> both}}"),
        ("e.txt.hbs", "{{> f}}{{> both}}"),
    ]);
    assert!(!d.has_errors(), "{d}");
    assert_eq!(t.render_html("e", &json!({"x": "<"})).unwrap(), "<i>&lt;</i>[&lt;]");
    assert_eq!(t.render_text("e", &json!({"x": "<"})).unwrap(), "_<_[<]");
}

#[test]
fn inline_template_errors_point_into_the_campaign_file() {
    let (mut t, _) = templates(&[]);
    let mut d = Diagnostics::default();
    t.add("@c/s", false, "Hi {{#if}}", Origin { file: "c.toml".into(), inline_at: Some((7, 12)) }, false, &mut d);
    let e = d.errors().next().unwrap().to_string();
    assert!(e.starts_with("c.toml:7:"), "{e}");
    assert!(t.is_broken("@c/s"));
}

#[test]
fn reminder_overrides_replace_the_built_ins() {
    let (t, d) = templates(&[("reminders/task.subject.hbs", "TODO {{task.text}}")]);
    assert!(!d.has_errors(), "{d}");
    assert_eq!(t.render_text("reminders/task.subject", &json!({"task": {"text": "call"}})).unwrap(), "TODO call");
    assert!(t.render_text("reminders/digest.subject", &json!({"count": 2, "plural": true})).unwrap() == "2 open tasks");
}

#[test]
fn files_that_are_not_templates_are_warned_about() {
    let (_, d) = templates(&[("notes.md", "hi")]);
    assert!(!d.has_errors());
    assert!(d.0.iter().any(|w| w.message.contains("ignored")));
}
