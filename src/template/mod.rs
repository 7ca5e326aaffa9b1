//! Email and reminder templates: Handlebars in strict mode, compiled once
//! when definitions load and never per send.
//!
//! Two registries, because Handlebars escapes all output for HTML: `html`
//! escapes (the `.html.hbs` parts), `text` does not (`.txt.hbs` parts,
//! subjects, task texts). Inline subjects and task texts from campaign
//! files are registered as `@CAMPAIGN/STEP`.

mod builtin;
pub mod context;
mod helpers;
pub mod lint;
mod load;
pub mod text;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use handlebars::{Handlebars, RenderError};
use serde_json::Value;

use crate::diag::Diagnostic;

pub use load::load;

#[cfg(test)]
mod tests;

#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    /// Where an inline template starts inside `file` (1-based line, col).
    pub inline_at: Option<(usize, usize)>,
}

impl Origin {
    /// A position inside the template, as a position inside `file`.
    pub fn position(&self, line: usize, col: usize) -> (usize, usize) {
        match self.inline_at {
            Some((l0, c0)) if line <= 1 => (l0, c0 + col.max(1) - 1),
            Some((l0, _)) => (l0 + line - 1, col),
            None => (line, col),
        }
    }
}

pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    html_origin: HashMap<String, Origin>,
    text_origin: HashMap<String, Origin>,
    /// Attribute names any template mentions (`lead.attributes.NAME`).
    pub attribute_refs: BTreeSet<String>,
    /// (name, is html) of templates that failed to compile; already
    /// reported, so steps using them are not reported again as missing.
    pub broken: BTreeSet<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// A template failed on real data: the step fails with this as its reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{diagnostic}")]
pub struct RenderFailure {
    pub diagnostic: Diagnostic,
}

pub fn inline_name(campaign: &str, step: &str) -> String {
    format!("@{campaign}/{step}")
}

impl Templates {
    fn registry(escape: bool) -> Handlebars<'static> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        if !escape {
            hb.register_escape_fn(handlebars::no_escape);
        }
        helpers::register(&mut hb);
        hb
    }

    pub fn has_html(&self, name: &str) -> bool {
        self.html.has_template(name) && self.html_origin.contains_key(name)
    }

    pub fn has_text(&self, name: &str) -> bool {
        self.text.has_template(name) && self.text_origin.contains_key(name)
    }

    pub fn is_broken(&self, name: &str) -> bool {
        self.broken.contains(&(name.to_string(), true)) || self.broken.contains(&(name.to_string(), false))
    }

    /// Every template read from files (not built-in, not inline), with its
    /// registry flag: `check` lints them all, used by a campaign or not.
    pub fn file_templates(&self) -> Vec<(String, bool)> {
        let files = |o: &HashMap<String, Origin>, html: bool| -> Vec<(String, bool)> {
            o.iter()
                .filter(|(n, o)| o.inline_at.is_none() && !n.starts_with('@') && !o.file.starts_with("(built-in)"))
                .map(|(n, _)| (n.clone(), html))
                .collect()
        };
        let mut all = files(&self.html_origin, true);
        all.extend(files(&self.text_origin, false));
        all.sort();
        all
    }

    pub fn origin(&self, name: &str, html: bool) -> Option<&Origin> {
        if html { self.html_origin.get(name) } else { self.text_origin.get(name) }
    }

    pub(crate) fn html_registry(&self) -> &Handlebars<'static> {
        &self.html
    }

    pub(crate) fn text_registry(&self) -> &Handlebars<'static> {
        &self.text
    }

    /// Subject from the inline template, text and HTML from the named email
    /// template; with only HTML, the text part is derived from it.
    pub fn render_email(&self, template: &str, subject: &str, data: &Value) -> Result<RenderedEmail, RenderFailure> {
        let subject = self.render_text(subject, data)?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let html = if self.has_html(template) { Some(self.render(template, true, data)?) } else { None };
        let text = match (&html, self.has_text(template)) {
            (_, true) => self.render(template, false, data)?,
            (Some(h), false) => text::from_html(h),
            (None, false) => return Err(self.missing(template)),
        };
        let html = html.map(|h| text::document(&h, &subject, LANG));
        Ok(RenderedEmail { subject, text, html })
    }

    /// Subject, text and HTML of a rep email (`reminders/task`,
    /// `reminders/digest`): built-in or overridden templates.
    /// A template written in the config file (`[handoff] task`), checked
    /// and reported at its place there.
    pub fn add_inline(
        &mut self,
        name: &str,
        text: &str,
        file: &std::path::Path,
        at: Option<(usize, usize)>,
        diags: &mut crate::diag::Diagnostics,
    ) {
        let origin = Origin { file: file.to_path_buf(), inline_at: at };
        self.add(name, false, text, origin, false, diags);
    }

    pub fn render_rep_email(&self, base: &str, data: &Value) -> Result<(String, String, String), RenderFailure> {
        let subject = self.render_text(&format!("{base}.subject"), data)?;
        let html = text::document(&self.render_html(base, data)?, &subject, LANG);
        Ok((subject, self.render_text(base, data)?, html))
    }

    pub fn render_text(&self, name: &str, data: &Value) -> Result<String, RenderFailure> {
        self.render(name, false, data)
    }

    pub fn render_html(&self, name: &str, data: &Value) -> Result<String, RenderFailure> {
        self.render(name, true, data)
    }

    fn render(&self, name: &str, html: bool, data: &Value) -> Result<String, RenderFailure> {
        let hb = if html { &self.html } else { &self.text };
        hb.render(name, data).map_err(|e| self.failure(name, html, &e))
    }

    fn missing(&self, name: &str) -> RenderFailure {
        RenderFailure { diagnostic: Diagnostic::error(name, "no such email template") }
    }

    fn failure(&self, name: &str, html: bool, e: &RenderError) -> RenderFailure {
        // The error may come from a partial; name that file, not the caller.
        let failing = e.template_name.clone().unwrap_or_else(|| name.to_string());
        let origin = self.origin(&failing, html).or_else(|| self.origin(name, html));
        let file = origin.map(|o| o.file.clone()).unwrap_or_else(|| PathBuf::from(&failing));
        let mut d = Diagnostic::error(file, describe(e));
        if let Some(line) = e.line_no {
            let col = e.column_no.unwrap_or(1);
            let (line, col) = origin.map_or((line, col), |o| o.position(line, col));
            d = d.at(line, col);
        }
        RenderFailure { diagnostic: d }
    }
}

fn describe(e: &RenderError) -> String {
    match e.reason() {
        handlebars::RenderErrorReason::MissingVariable(Some(path)) => {
            format!("unknown variable `{path}` (see the variable list in the README)")
        }
        other => other.to_string(),
    }
}

/// The `lang` of the HTML documents nurture sends (a template that writes
/// its own `<html lang>` keeps it).
const LANG: &str = "en";
