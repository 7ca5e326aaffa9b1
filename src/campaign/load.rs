//! Reading `campaigns/*.toml` into validated [`Campaign`]s, reporting every
//! problem at its `file:line:col`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use toml::Spanned;

use super::file::{AudienceFile, CampaignFile, StepFile, TestFile, VariantFile, WindowFile};
use super::*;
use crate::abtest::{Metric, decide::Test};
use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};
use crate::fields::{Fields, parse_toml};
use crate::schedule::window;
use crate::source::{Source, line_col};

/// Every `*.toml` in the campaigns folder, sorted by file name. Campaigns
/// with errors are left out (and reported); duplicates ids are errors.
pub fn load_all(config: &Config, diags: &mut Diagnostics) -> Vec<Campaign> {
    let dir = &config.campaigns_dir;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::error(
                dir,
                format!("cannot read the campaigns folder: {e}; create it or set [paths] campaigns"),
            ));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        diags.push(Diagnostic::warning(dir, "no campaign files (*.toml) here; nothing will be sent"));
    }
    let mut campaigns: Vec<Campaign> = Vec::new();
    for path in files {
        let Some(c) = load_file(&path, config, diags) else { continue };
        if let Some(other) = campaigns.iter().find(|o| o.id == c.id) {
            diags.push(Diagnostic::error(
                &path,
                format!("campaign id {:?} is also used by {}; ids must be unique", c.id, other.file.display()),
            ));
            continue;
        }
        campaigns.push(c);
    }
    campaigns
}

pub fn load_file(path: &Path, config: &Config, diags: &mut Diagnostics) -> Option<Campaign> {
    let source = match Source::read(path) {
        Ok(s) => s,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let raw = parse_toml::<CampaignFile>(&source, diags)?;
    let mut local = Diagnostics::default();
    let campaign = Validator { f: Fields::new(&source, &mut local), config }.campaign(raw, path);
    let failed = local.has_errors();
    diags.extend(local);
    campaign.filter(|_| !failed)
}

struct Validator<'a> {
    f: Fields<'a>,
    config: &'a Config,
}

impl Validator<'_> {
    fn campaign(&mut self, raw: CampaignFile, path: &Path) -> Option<Campaign> {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let id = match &raw.id {
            Some(id) => self.f.parse(id, |s| check_id(s, "campaign")),
            None => match check_id(&stem, "campaign") {
                Ok(id) => Some(id),
                Err(e) => {
                    self.f
                        .diags
                        .push(self.f.source.error_at(None, format!("{e}; rename the file or set id = \"...\"")));
                    None
                }
            },
        };
        let name = raw.name.map(Spanned::into_inner).filter(|n| !n.trim().is_empty());
        let audience = match raw.audience {
            Some(a) => self.audience(a),
            None => {
                self.f.diags.push(self.f.source.error_at(
                    Some(0..0),
                    "no [audience] table; add one with status = [\"nurturing\"] (the statuses to enrol)",
                ));
                None
            }
        };
        let cron = match &raw.enrol.cron {
            Some(c) => self.f.cron(c),
            None => CronSpec::parse(DEFAULT_ENROL_CRON).ok(),
        };
        let timezone = match &raw.enrol.timezone {
            Some(z) => self.f.zone(z),
            None => Some(self.config.timezone),
        };
        let again_after = match &raw.enrol.again_after {
            Some(d) => self.f.duration(d).map(Some),
            None => Some(None),
        };
        let window = self.window(raw.window);
        let when_status = raw.exit.when_status.map(|list| self.statuses(&list));
        let exit = Exit { when_status, on_reply: raw.exit.on_reply.unwrap_or(true) };
        let steps = self.steps(raw.steps);
        let (id, audience, window) = (id?, audience?, window?);
        let enrol = Enrol { cron: cron?, timezone: timezone?, again_after: again_after? };
        Some(Campaign {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            enabled: raw.enabled.unwrap_or(true),
            file: path.to_path_buf(),
            audience,
            enrol,
            window,
            exit,
            track_links: raw.tracking.links,
            steps: steps?,
        })
    }

    fn statuses(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        let known = &self.config.statuses;
        for s in list {
            if !known.contains(s.get_ref()) {
                let msg = format!(
                    "unknown status {:?}; known statuses are {} (set [leads] statuses in nurture.toml to change them)",
                    s.get_ref(),
                    known.join(", ")
                );
                self.f.error(s, msg);
            }
        }
        list.iter().map(|s| s.get_ref().clone()).collect()
    }

    fn audience(&mut self, raw: AudienceFile) -> Option<Audience> {
        let Some(status) = raw.status else {
            self.f.diags.push(self.f.source.error_at(None, "[audience] needs status = [...], the statuses to enrol"));
            return None;
        };
        if status.get_ref().is_empty() {
            self.f.error(&status, "audience.status is empty; list at least one status");
        }
        let statuses = self.statuses(status.get_ref());
        let min_age = raw.min_age.as_ref().and_then(|d| self.f.duration(d));
        let max_age = raw.max_age.as_ref().and_then(|d| self.f.duration(d));
        if let (Some(min), Some(max), Some(at)) = (min_age, max_age, &raw.max_age)
            && min > max
        {
            self.f.error(at, "max_age is shorter than min_age: no lead can match");
        }
        let mut attributes = BTreeMap::new();
        for (key, value) in raw.attributes {
            let values = match value.get_ref() {
                toml::Value::String(s) => Some(vec![s.clone()]),
                toml::Value::Array(a) => a.iter().map(|v| v.as_str().map(str::to_string)).collect(),
                _ => None,
            };
            match values {
                Some(v) => {
                    attributes.insert(key, v);
                }
                None => self.f.error(&value, format!("attribute {key:?}: write a string or a list of strings")),
            }
        }
        Some(Audience {
            statuses,
            lost_reasons: raw.lost_reason.unwrap_or_default().into_iter().map(Spanned::into_inner).collect(),
            min_age,
            max_age,
            attributes,
        })
    }

    fn window(&mut self, raw: WindowFile) -> Option<SendWindow> {
        let mut w = Window::always();
        let mut ok = true;
        if let Some(days) = &raw.days {
            w.days = [false; 7];
            for d in days {
                match self.f.parse(d, |s| window::parse_day(s)) {
                    Some(day) => w.days[day.num_days_from_monday() as usize] = true,
                    None => ok = false,
                }
            }
        }
        if let Some(h) = &raw.hours {
            match self.f.parse(h, |s| window::parse_hours(s)) {
                Some((start, end)) => (w.start, w.end) = (start, end),
                None => ok = false,
            }
        }
        for d in raw.skip_dates.iter().flatten() {
            let text = match d.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Datetime(dt) => dt.to_string(),
                other => other.to_string(),
            };
            match self.f.parse(d, |_| window::parse_date(&text)) {
                Some(date) => {
                    w.skip_dates.insert(date);
                }
                None => ok = false,
            }
        }
        let zone = match &raw.timezone {
            Some(z) if z.get_ref() == "lead" => Zone::Lead,
            Some(z) => Zone::Fixed(self.f.zone(z)?),
            None => Zone::Lead,
        };
        if ok && w.days.iter().all(|d| !d) {
            self.f.diags.push(self.f.source.error_at(None, "[window] days is empty: nothing could ever be sent"));
            ok = false;
        }
        ok.then_some(SendWindow { window: w, zone })
    }

    fn steps(&mut self, raw: Vec<Spanned<StepFile>>) -> Option<Vec<Step>> {
        if raw.is_empty() {
            self.f.diags.push(self.f.source.error_at(None, "no [[step]]; a campaign needs at least one step"));
            return None;
        }
        let mut seen = BTreeSet::new();
        let mut steps = Vec::new();
        let mut ok = true;
        for (n, s) in raw.into_iter().enumerate() {
            match self.step(n + 1, s, &mut seen) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    fn step(&mut self, n: usize, raw: Spanned<StepFile>, seen: &mut BTreeSet<String>) -> Option<Step> {
        let at = line_col(&self.f.source.text, raw.span().start);
        let s = raw.get_ref();
        let Some(id_value) = &s.id else {
            self.f.error(&raw, format!("step {n} has no id; add id = \"...\" (stable: deliveries are matched by it)"));
            return None;
        };
        let id = self.f.parse(id_value, |v| check_id(v, "step"))?;
        if !seen.insert(id.clone()) {
            self.f.error(id_value, format!("step id {id:?} is used twice in this campaign"));
            return None;
        }
        let after = match &s.after {
            Some(d) => self.f.duration(d)?,
            None => TimeDelta::zero(),
        };
        let forms = !s.variants.is_empty();
        let (action, text_at) = match (&s.email, &s.task) {
            (Some(_), None) => self.email_step(s, forms)?,
            (None, None) if forms => self.email_step(s, forms)?,
            (None, Some(task)) => {
                if let Some(v) = s.variants.first() {
                    self.f.error(v, "[[step.variant]] applies to email steps; a task step has one text");
                    return None;
                }
                self.task_step(s, task)?
            }
            (Some(_), Some(task)) => {
                self.f.error(task, format!("step {id:?} has both email and task; make them two steps"));
                return None;
            }
            (None, None) => {
                self.f.error(&raw, format!("step {id:?} needs email = \"TEMPLATE\" or task = \"TEXT\""));
                return None;
            }
        };
        let variants = self.variants(&id, s, &action)?;
        let test = match &s.test {
            Some(t) if variants.len() < 2 => {
                self.f.error(t, format!("step {id:?}: [step.test] needs two or more [[step.variant]] to compare"));
                return None;
            }
            Some(t) => Some(self.test(t.get_ref())?),
            None => None,
        };
        Some(Step { id, after, action, line: at, text_at, variants, test })
    }

    /// An email step's own template and subject; with variants both may be
    /// left to them.
    fn email_step(&mut self, s: &StepFile, forms: bool) -> Option<(Action, (usize, usize))> {
        for (key, v) in [("assign", &s.assign), ("due", &s.due)] {
            if let Some(v) = v {
                self.f.error(v, format!("{key} applies to task steps, not email steps"));
            }
        }
        let template = match &s.email {
            Some(email) => self.f.parse(email, |t| check_template_name(t))?,
            None => String::new(),
        };
        let (subject, at) = match (&s.subject, &s.email) {
            (Some(subject), _) => {
                if subject.get_ref().trim().is_empty() {
                    self.f.error(subject, "subject is empty");
                    return None;
                }
                (subject.get_ref().clone(), line_col(&self.f.source.text, subject.span().start + 1))
            }
            (None, Some(email)) if !forms => {
                self.f.error(email, "an email step needs subject = \"...\"");
                return None;
            }
            (None, _) => (String::new(), (0, 0)),
        };
        Some((Action::Email { template, subject }, at))
    }

    /// `[[step.variant]]`, each made complete from the step.
    fn variants(&mut self, step: &str, s: &StepFile, action: &Action) -> Option<Vec<Variant>> {
        let Action::Email { template, subject } = action else { return Some(Vec::new()) };
        if let [only] = s.variants.as_slice() {
            self.f.warn(only, format!("step {step:?} has one variant: it tests nothing; add another or remove it"));
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut ok = true;
        for raw in &s.variants {
            match self.variant(step, raw, template, subject, &mut seen) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn variant(
        &mut self,
        step: &str,
        raw: &Spanned<VariantFile>,
        template: &str,
        subject: &str,
        seen: &mut BTreeSet<String>,
    ) -> Option<Variant> {
        let v = raw.get_ref();
        let Some(id_value) = &v.id else {
            self.f.error(
                raw,
                format!("a variant of step {step:?} has no id; add id = \"a\" (stable: results are kept by it)"),
            );
            return None;
        };
        let id = self.f.parse(id_value, |x| check_id(x, "variant"))?;
        if !seen.insert(id.clone()) {
            self.f.error(id_value, format!("variant id {id:?} is used twice in step {step:?}"));
            return None;
        }
        let template = match &v.email {
            Some(e) => self.f.parse(e, |t| check_template_name(t))?,
            None if !template.is_empty() => template.to_string(),
            None => {
                self.f.error(
                    raw,
                    format!("variant {id:?} has no email and step {step:?} has none; add email = \"TEMPLATE\""),
                );
                return None;
            }
        };
        let (text, own, text_at) = match &v.subject {
            Some(s) if s.get_ref().trim().is_empty() => {
                self.f.error(s, "subject is empty");
                return None;
            }
            Some(s) => (s.get_ref().clone(), true, line_col(&self.f.source.text, s.span().start + 1)),
            None if !subject.is_empty() => (subject.to_string(), false, (0, 0)),
            None => {
                self.f.error(
                    raw,
                    format!("variant {id:?} has no subject and step {step:?} has none; add subject = \"...\""),
                );
                return None;
            }
        };
        let weight = match &v.weight {
            None => 1.0,
            Some(w) => self.f.parse(w, |value| {
                let x = match value {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    _ => f64::NAN,
                };
                if x.is_finite() && x > 0.0 && x <= 1e6 {
                    Ok(x)
                } else {
                    Err(format!("weight of variant {id:?} must be a number above 0 (a share: 1 and 3 send a quarter and three quarters)"))
                }
            })?,
        };
        let line = line_col(&self.f.source.text, raw.span().start);
        Some(Variant { id, template, subject: text, own_subject: own, weight, line, text_at })
    }

    fn test(&mut self, t: &TestFile) -> Option<Test> {
        let metric = match &t.metric {
            None => Metric::Replied,
            Some(m) => self.f.parse(m, |name| {
                Metric::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
                    format!("unknown metric {name:?}; write one of {}", known.join(", "))
                })
            })?,
        };
        let min_sample = match &t.min_sample {
            None => DEFAULT_MIN_SAMPLE,
            Some(n) => self.f.parse(n, |&n| {
                u32::try_from(n).ok().filter(|n| (10..=10_000_000).contains(n)).ok_or_else(|| {
                    format!("min_sample {n}: write the leads each variant needs before a winner, 10 or more")
                })
            })?,
        };
        let confidence = match &t.confidence {
            None => DEFAULT_CONFIDENCE,
            Some(c) => self.f.parse(c, |&c| {
                if (0.5..=0.999).contains(&c) {
                    Ok(c)
                } else {
                    Err(format!("confidence {c}: write a chance between 0.5 and 0.999, such as 0.95"))
                }
            })?,
        };
        Some(Test { metric, min_sample, confidence })
    }

    fn task_step(&mut self, s: &StepFile, task: &Spanned<String>) -> Option<(Action, (usize, usize))> {
        if let Some(subject) = &s.subject {
            self.f.error(subject, "subject applies to email steps; a task's text is its subject");
        }
        if task.get_ref().trim().is_empty() {
            self.f.error(task, "task text is empty; say what the rep should do");
            return None;
        }
        let assign = match &s.assign {
            None => Assign::Owner,
            Some(a) => match a.get_ref().as_str() {
                "owner" => Assign::Owner,
                "round-robin" if self.config.reps.is_empty() => {
                    self.f.error(a, "round-robin needs reps: set [reminders] reps_file in nurture.toml");
                    return None;
                }
                "round-robin" => Assign::RoundRobin,
                other => Assign::Rep(self.f.parse(a, |_| {
                    crate::email::parse_address(other)
                        .map(|addr| addr.to_string())
                        .map_err(|_| format!("assign {other:?}: write \"owner\", \"round-robin\" or a rep's email"))
                })?),
            },
        };
        let due = match &s.due {
            Some(d) => self.f.duration(d)?,
            None => TimeDelta::days(1),
        };
        let at = line_col(&self.f.source.text, task.span().start + 1);
        Some((Action::Task { text: task.get_ref().clone(), assign, due }, at))
    }
}

/// `[step.test]` defaults (README, *A/B tests*).
pub const DEFAULT_MIN_SAMPLE: u32 = 200;
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

fn check_id(s: &str, what: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(s.to_string()) } else { Err(format!("{what} id {s:?} must be 1-64 letters, digits, '-' or '_'")) }
}

fn check_template_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && !s.starts_with('/')
        && !s.ends_with(".hbs")
        && s.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "email template {s:?} must be a name under templates/ without extension, e.g. \"winback/check-in\""
        ))
    }
}
