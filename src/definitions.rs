//! Everything marketing and ops write, loaded and validated as one unit:
//! config, campaigns and templates. `check` prints the diagnostics; `run`
//! starts only from a clean load, and a reload keeps the old definitions
//! when the new ones have errors.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::campaign::{self, Action, Campaign, Step, Variant};
use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};
use crate::lead::Lead;
use crate::template::{self, Templates, context, inline_name, lint};

pub struct Definitions {
    pub config: Config,
    pub campaigns: Vec<Campaign>,
    pub templates: Templates,
}

impl Definitions {
    /// Load everything and render every step against a sample lead at `now`.
    /// The definitions are returned even when there are errors, so tools
    /// like `preview` can work on the parts that are fine.
    pub fn load(config_path: Option<&Path>, now: DateTime<Utc>) -> (Definitions, Diagnostics) {
        let mut diags = Diagnostics::default();
        let config = Config::load(config_path, &mut diags);
        let campaigns = campaign::load_all(&config, &mut diags);
        let mut templates = template::load(&config.templates_dir, &campaigns, &mut diags);
        let h = &config.handoff;
        templates.add_inline(crate::config::readiness::HANDOFF_TASK, &h.task, &config.file, h.task_at, &mut diags);
        let defs = Definitions { config, campaigns, templates };
        for c in &defs.campaigns {
            for step in &c.steps {
                defs.check_step(c, step, now, &mut diags);
            }
        }
        defs.check_reminders(now, &mut diags);
        defs.lint_all_files(now, &mut diags);
        (defs, dedup(diags))
    }

    pub fn campaign(&self, id: &str) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| c.id == id)
    }

    /// The lead `check` and `preview` use for a campaign: it matches the
    /// audience, and has every attribute a template mentions.
    pub fn sample_lead(&self, c: &Campaign, now: DateTime<Utc>) -> Lead {
        let mut lead = Lead::sample(c.audience.statuses.first().map_or("nurturing", String::as_str), now);
        if let Some(reason) = c.audience.lost_reasons.first() {
            lead.lost_reason = reason.clone();
        }
        if let Some(min) = c.audience.min_age {
            lead.status_changed_at = now - min - chrono::TimeDelta::days(1);
        }
        for name in &self.templates.attribute_refs {
            lead.attributes.insert(name.clone(), format!("sample {name}"));
        }
        for (name, values) in &c.audience.attributes {
            lead.attributes.insert(name.clone(), values.first().cloned().unwrap_or_default());
        }
        lead
    }

    pub fn sample_unsubscribe_url(&self) -> String {
        format!("{}/u/SAMPLE-UNSUBSCRIBE-TOKEN", self.config.http.public_url)
    }

    pub fn email_data(
        &self,
        c: &Campaign,
        step: &Step,
        lead: &Lead,
        unsubscribe_url: &str,
        now: DateTime<Utc>,
    ) -> Value {
        let input = context::EmailInput { lead, campaign: c, step, unsubscribe_url, now };
        context::email(&input, &self.config, &self.templates.attribute_refs)
    }

    fn check_step(&self, c: &Campaign, step: &Step, now: DateTime<Utc>, diags: &mut Diagnostics) {
        if step.variants.is_empty() {
            return self.check_form(c, step, None, now, diags);
        }
        for v in &step.variants {
            self.check_form(c, step, Some(v), now, diags);
        }
    }

    /// One form of a step: a task's text, or an email (the step's own, or
    /// one variant's) with its subject.
    fn check_form(
        &self,
        c: &Campaign,
        step: &Step,
        variant: Option<&Variant>,
        now: DateTime<Utc>,
        diags: &mut Diagnostics,
    ) {
        let lead = self.sample_lead(c, now);
        let unsubscribe = self.sample_unsubscribe_url();
        let data = self.email_data(c, step, &lead, &unsubscribe, now);
        let form = step.form(&c.id, variant);
        let inline = form.as_ref().map_or_else(|| inline_name(&c.id, &step.id), |f| f.subject.clone());
        let mut parts = vec![(inline.clone(), false)];
        if self.templates.is_broken(&inline) {
            return;
        }
        if let Some(form) = &form {
            let template = form.template;
            let (html, text) = (self.templates.has_html(template), self.templates.has_text(template));
            if self.templates.is_broken(template) {
                return;
            }
            if !html && !text {
                let dir = self.config.templates_dir.display();
                let at = variant.map_or(step.line, |v| v.line);
                let whose = match variant {
                    Some(v) => format!("step {:?} variant {:?}", step.id, v.id),
                    None => format!("step {:?}", step.id),
                };
                diags.push(Diagnostic::error(&c.file, format!(
                    "{whose}: email template {template:?} not found; create {dir}/{template}.html.hbs and/or {dir}/{template}.txt.hbs"
                )).at(at.0, at.1));
                return;
            }
            parts.extend(
                [(template.to_string(), true), (template.to_string(), false)]
                    .into_iter()
                    .filter(|(_, h)| if *h { html } else { text }),
            );
        }
        if self.lint(&parts, &data, diags) {
            return;
        }
        self.blank_fields(&parts, diags);
        match form {
            None => {
                if let Err(e) = self.templates.render_text(&inline, &data) {
                    diags.push(e.diagnostic);
                }
            }
            Some(form) => match self.templates.render_email(form.template, &inline, &data) {
                Err(e) => diags.push(e.diagnostic),
                Ok(email) => {
                    let template = form.template;
                    for url in email.html.as_deref().map(crate::tracking::dangerous_links).unwrap_or_default() {
                        let file = self.templates.origin(template, true).map(|o| o.file.clone()).unwrap_or_default();
                        let shown: String = url.chars().take(40).collect();
                        let probe: String = url.chars().take(12).collect();
                        let at = std::fs::read_to_string(&file)
                            .ok()
                            .and_then(|t| t.find(&probe).map(|i| crate::source::line_col(&t, i)));
                        let d = Diagnostic::warning(
                            &file,
                            format!(
                                "link {shown:?} is not an http(s) address: it is left untracked, and mail programs \
                                 block or strip it; link to an https:// page instead"
                            ),
                        );
                        diags.push(match at {
                            Some((line, col)) => d.at(line, col),
                            None => d,
                        });
                    }
                    let outputs = [(Some(&email.text), false), (email.html.as_ref(), true)];
                    for (out, html) in outputs {
                        let Some(out) = out else { continue };
                        let authored =
                            if html { self.templates.has_html(template) } else { self.templates.has_text(template) };
                        if authored && !out.contains(&unsubscribe) {
                            let file =
                                self.templates.origin(template, html).map(|o| o.file.clone()).unwrap_or_default();
                            diags.push(Diagnostic::error(
                                file,
                                "marketing email never uses {{unsubscribe_url}}; add an unsubscribe link (required by law and by mailbox providers)",
                            ));
                        }
                    }
                }
            },
        }
    }

    /// Warn where a subject or task text (all of it), or the first line of
    /// an email (its greeting), prints a lead field that may be blank.
    fn blank_fields(&self, parts: &[(String, bool)], diags: &mut Diagnostics) {
        for (i, (name, html)) in parts.iter().enumerate() {
            let hb = if *html { self.templates.html_registry() } else { self.templates.text_registry() };
            let (Some(tpl), Some(origin)) = (hb.get_template(name), self.templates.origin(name, *html)) else {
                continue;
            };
            for f in lint::bare_blank_fields(tpl).into_iter().filter(|f| i == 0 || f.line == 1) {
                let (line, col) = origin.position(f.line, f.col);
                diags.push(Diagnostic::warning(&origin.file, f.message).at(line, col));
            }
        }
    }

    /// Report unknown variables in the named templates; true if any.
    fn lint(&self, parts: &[(String, bool)], data: &Value, diags: &mut Diagnostics) -> bool {
        let mut found = false;
        for (name, html) in parts {
            let hb = if *html { self.templates.html_registry() } else { self.templates.text_registry() };
            let (Some(tpl), Some(origin)) = (hb.get_template(name), self.templates.origin(name, *html)) else {
                continue;
            };
            for f in lint::unknown_variables(tpl, data, hb) {
                let (line, col) = origin.position(f.line, f.col);
                diags.push(Diagnostic::error(&origin.file, f.message).at(line, col));
                found = true;
            }
        }
        found
    }

    /// Templates of campaigns that failed to load, and unused ones, still
    /// get their variables checked, so one `check` run shows everything.
    fn lint_all_files(&self, now: DateTime<Utc>, diags: &mut Diagnostics) {
        // The sample data comes from a campaign; with none loaded (all
        // broken), from a stand-in, so a template typo still shows now.
        let stand_in;
        let (c, step) = match self.campaigns.iter().find_map(|c| c.steps.first().map(|s| (c, s))) {
            Some(found) => found,
            None => {
                stand_in = stand_in_campaign(self.config.timezone);
                (&stand_in, &stand_in.steps[0])
            }
        };
        let mut lead = self.sample_lead(c, now);
        lead.attributes.clear();
        let data = self.email_data(c, step, &lead, &self.sample_unsubscribe_url(), now);
        let parts: Vec<_> =
            self.templates.file_templates().into_iter().filter(|(n, _)| !n.starts_with("reminders/")).collect();
        self.lint(&parts, &data, diags);
    }

    fn check_reminders(&self, now: DateTime<Utc>, diags: &mut Diagnostics) {
        let Some(c) = self.campaigns.first() else { return };
        let Some(step) = c.steps.first() else { return };
        let lead = self.sample_lead(c, now);
        let rep = context::sample_rep();
        let history = context::sample_history(now);
        let task = context::TaskInput {
            rep: &rep,
            text: "Call Ana at Acme Corp",
            due_at: now,
            lead: &lead,
            campaign: c,
            step,
            history: &history,
            done_url: "https://nurture.example/t/SAMPLE/done",
            now,
            zone: self.config.timezone,
        };
        let task_data = context::task(&task, &self.templates.attribute_refs);
        let digest_data = context::digest(&rep, &context::sample_digest_lines(&lead, now), 1, now);
        let why = "score 64: clicked https://example.com/pricing, page_view:pricing";
        let task_text = context::handoff_task(&lead, why, 64.0, &self.templates.attribute_refs);
        let handoff_task = crate::config::readiness::HANDOFF_TASK;
        if !self.templates.is_broken(handoff_task)
            && let Err(e) = self.templates.render_text(handoff_task, &task_text)
        {
            diags.push(e.diagnostic);
        }
        let signals = [context::WhyLine {
            at: context::rfc3339(now),
            when: context::local_time(now, self.config.timezone),
            what: "clicked https://example.com/pricing".into(),
            email: "What Acme Corp could save".into(),
            points: 35,
        }];
        let handoff = context::HandoffInput {
            rep: &rep,
            text: "Call Ana now",
            due_at: now,
            lead: &lead,
            why,
            score: 64.0,
            signals: &signals,
            history: &history,
            done_url: "https://nurture.example/t/SAMPLE/done",
            now,
            zone: self.config.timezone,
        };
        let handoff_data = context::handoff(&handoff, &self.templates.attribute_refs);
        for (base, data) in
            [("reminders/task", &task_data), ("reminders/handoff", &handoff_data), ("reminders/digest", &digest_data)]
        {
            let subject = format!("{base}.subject");
            let parts = [(subject.clone(), false), (base.to_string(), false), (base.to_string(), true)];
            if self.lint(&parts, data, diags) {
                continue;
            }
            let results = [
                self.templates.render_text(&subject, data),
                self.templates.render_text(base, data),
                self.templates.render_html(base, data),
            ];
            diags.0.extend(results.into_iter().filter_map(|r| r.err().map(|e| e.diagnostic)));
        }
    }
}

fn dedup(diags: Diagnostics) -> Diagnostics {
    let mut seen = BTreeSet::new();
    Diagnostics(diags.0.into_iter().filter(|d| seen.insert(d.to_string())).collect())
}

/// A campaign with one email step, whose only use is the sample data the
/// templates are linted against when no campaign of the project loaded.
fn stand_in_campaign(zone: chrono_tz::Tz) -> Campaign {
    use campaign::{Audience, Enrol, Exit, SendWindow, Zone};
    let step = Step {
        id: "step".into(),
        after: chrono::TimeDelta::zero(),
        action: Action::Email { template: String::new(), subject: String::new() },
        line: (1, 1),
        text_at: (1, 1),
        variants: Vec::new(),
        test: None,
    };
    Campaign {
        id: "campaign".into(),
        name: "Campaign".into(),
        enabled: true,
        file: std::path::PathBuf::new(),
        audience: Audience { statuses: vec!["nurturing".into()], ..Audience::default() },
        enrol: Enrol {
            cron: crate::schedule::CronSpec::parse(campaign::DEFAULT_ENROL_CRON).expect("a valid constant"),
            timezone: zone,
            again_after: None,
        },
        window: SendWindow { window: crate::schedule::Window::always(), zone: Zone::Lead },
        exit: Exit { when_status: None, on_reply: true },
        track_links: None,
        steps: vec![step],
    }
}
