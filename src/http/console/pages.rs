//! The console's HTML: Handlebars templates compiled into the binary (the
//! `templates/` folder beside this file), one layout readable on a phone
//! and without JavaScript, every value escaped by Handlebars on the way in.

use std::sync::LazyLock;

use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::report::Report;
use crate::store::TaskRow;
use crate::template::context::rfc3339;

/// Text into HTML: the escaping the templates use (`&`, `<`, `>`, `"`,
/// `'`, `` ` ``, `=` as entities).
use handlebars::html_escape as esc;

/// Each page's template, by name; compiled once, in strict mode (a value
/// the page does not pass is an error in the test, never a blank).
const TEMPLATES: [(&str, &str); 5] = [
    ("layout", include_str!("templates/layout.html.hbs")),
    ("login", include_str!("templates/login.html.hbs")),
    ("campaigns", include_str!("templates/campaigns.html.hbs")),
    ("lead", include_str!("templates/lead.html.hbs")),
    ("tasks", include_str!("templates/tasks.html.hbs")),
];

static REGISTRY: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_partial("style", include_str!("templates/style.css")).expect("the console's style sheet");
    for (name, source) in TEMPLATES {
        // Compiled into the binary and covered by the tests: a template
        // that does not parse never ships.
        hb.register_template_string(name, source).expect("a console template");
    }
    hb
});

/// `page`'s body inside the layout. `user` and `csrf` fill the navigation
/// and its logout form; without a user (the login page) there is none.
fn render(page: &str, title: &str, user: Option<(&str, &str)>, data: &Value) -> String {
    let render = |name: &str, data: &Value| {
        REGISTRY.render(name, data).unwrap_or_else(|e| format!("<p class=\"error\">{}</p>", esc(&e.to_string())))
    };
    let body = render(page, data);
    let (user, csrf) = user.unwrap_or_default();
    render("layout", &json!({ "title": title, "user": user, "csrf": csrf, "body": body }))
}

/// A page for a signed-in user; `csrf` goes into the logout form.
pub fn signed(page: &str, title: &str, user: &str, csrf: &str, data: &Value) -> String {
    render(page, title, Some((user, csrf)), data)
}

pub fn login(token: &str, error: Option<&str>) -> String {
    render("login", "Log in", None, &json!({ "token": token, "error": error }))
}

/// Each campaign's funnel, step by step, under the charts (SVG, drawn by
/// `chart`); `forecast` is the chart ahead and when it was computed.
pub fn campaigns(r: &Report, sent_chart: &str, forecast: Option<(String, String)>, days: u32) -> Value {
    let (forecast_chart, forecast_at) = forecast.unwrap_or_default();
    // Each campaign with its steps' A/B tables, as `report` prints them.
    let campaigns: Vec<Value> = r
        .campaigns
        .iter()
        .map(|c| {
            let tests: Vec<Value> = c
                .steps
                .iter()
                .filter_map(|s| {
                    let t = s.test.as_ref()?;
                    let rows = t.rows();
                    Some(json!({ "step": s.step, "summary": t.summary(), "head": rows[0], "rows": rows[1..] }))
                })
                .collect();
            let mut v = json!(c);
            v["tests"] = json!(tests);
            v
        })
        .collect();
    json!({
        "sent_chart": sent_chart,
        "forecast_chart": forecast_chart,
        "forecast_at": forecast_at,
        "forecast_days": days,
        "goal": r.goal.join(" or "),
        "report": { "since": rfc3339(r.since), "campaigns": campaigns, "reps": r.reps },
    })
}

/// The search form, and the explanation of the lead found.
pub fn lead(email: &str, explained: Option<&str>) -> Value {
    json!({ "email": email, "explained": explained })
}

/// One open task as a row: its done link, and why (a hand-off's).
fn task_row(t: &TaskRow, done: &str, why: &str) -> Value {
    json!({
        "text": t.text,
        "rep": t.rep,
        "lead": if t.lead_name.is_empty() { t.lead_email.clone() } else { t.lead_name.clone() },
        "lead_email": t.lead_email,
        "query": percent_encoding::utf8_percent_encode(&t.lead_email, percent_encoding::NON_ALPHANUMERIC).to_string(),
        "since": rfc3339(t.created_at),
        "due": rfc3339(t.due_at),
        "why": why,
        "done": done,
    })
}

/// *Ready now* (leads handed over and not yet called, oldest first, with
/// why), then every open task, each with its done link.
pub fn tasks(ready: &[(TaskRow, String, String)], tasks: &[(TaskRow, String)]) -> Value {
    let ready: Vec<Value> = ready.iter().map(|(t, done, why)| task_row(t, done, why)).collect();
    let rows: Vec<Value> = tasks.iter().map(|(t, done)| task_row(t, done, "")).collect();
    json!({ "ready": ready, "tasks": rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes_what_it_is_given() {
        let page = signed("lead", "Leads", "<mia>", "t0k", &lead("a@x.test", Some("<script>x</script>")));
        assert!(page.starts_with("<!doctype html>") && page.contains("lang=\"en\""), "{page}");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;") && page.contains("&lt;mia&gt;"), "{page}");
        assert!(!page.contains("class=\"error\""), "{page}");
        let missing = lead("b@x.test", None);
        assert!(signed("lead", "Leads", "mia", "t", &missing).contains("No lead b@x.test."));
        let out = login("tok", Some("Wrong name or password."));
        assert!(out.contains("value=\"tok\"") && out.contains("Wrong name") && !out.contains("<nav>"), "{out}");
        let none = signed("tasks", "Open tasks", "mia", "t", &tasks(&[], &[]));
        assert!(none.contains("No open tasks."), "{none}");
        let empty = Report { goal: vec!["customer".into()], ..Default::default() };
        let page = signed("campaigns", "Campaigns", "mia", "t", &campaigns(&empty, "<svg></svg>", None, 14));
        assert!(page.contains("<svg></svg>") && page.contains("being computed"), "{page}");
        assert!(page.contains("No campaign activity") && page.contains("entering customer"), "{page}");
        let test = crate::report::TestReport {
            metric: "replied".into(),
            min_sample: Some(200),
            confidence: Some(0.95),
            variants: vec![crate::report::VariantReport {
                variant: "<b>".into(),
                weight: 1.0,
                sent: 210,
                hits: 21,
                rate: Some(0.1),
                low: Some(0.066),
                high: Some(0.148),
                chance: 0.97,
            }],
            ..Default::default()
        };
        let step = crate::report::StepReport { step: "value".into(), test: Some(test), ..Default::default() };
        let one =
            crate::report::CampaignReport { campaign: "c".into(), name: "C".into(), steps: vec![step], enrolled: 3 };
        let r = Report { campaigns: vec![one], ..Default::default() };
        let page = signed("campaigns", "Campaigns", "mia", "t", &campaigns(&r, "<svg></svg>", None, 14));
        assert!(page.contains("A/B test of step value") && page.contains("test by replied, 200 leads each"), "{page}");
        assert!(
            page.contains(
                "<td>&lt;b&gt;</td><td>1</td><td>210</td><td>21</td><td>10.0%</td><td>6.6%-14.8%</td><td>97.0%</td>"
            ),
            "{page}"
        );
    }
}
