//! Building [`Templates`] from the templates folder, the built-in reminder
//! templates and the campaigns' inline subjects and task texts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use handlebars::Template;

use super::{Origin, Templates, builtin, inline_name, lint};
use crate::campaign::{Action, Campaign, Variant};
use crate::diag::{Diagnostic, Diagnostics};
use crate::source::Source;

/// Deeper than any sane folder layout; stops symlink loops.
const MAX_DEPTH: usize = 8;

pub fn load(dir: &Path, campaigns: &[Campaign], diags: &mut Diagnostics) -> Templates {
    let mut t = Templates {
        html: Templates::registry(true),
        text: Templates::registry(false),
        html_origin: HashMap::new(),
        text_origin: HashMap::new(),
        attribute_refs: Default::default(),
        broken: Default::default(),
    };
    for (name, file, html, source) in builtin::ALL {
        let origin = Origin { file: PathBuf::from(format!("(built-in) reminders/{file}")), inline_at: None };
        t.add(name, html, source, origin, false, diags);
    }
    let mut files = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(_) => collect(dir, dir, 0, &mut files, diags),
        Err(e) => diags.push(Diagnostic::error(
            dir,
            format!("cannot read the templates folder: {e}; create it or set [paths] templates"),
        )),
    }
    files.sort();
    for (rel, path) in files {
        add_file(&mut t, &rel, &path, diags);
    }
    for c in campaigns {
        for step in &c.steps {
            let text = match &step.action {
                Action::Email { subject, .. } => subject,
                Action::Task { text, .. } => text,
            };
            let origin = Origin { file: c.file.clone(), inline_at: Some(step.text_at) };
            t.add(&inline_name(&c.id, &step.id), false, text, origin, false, diags);
            for v in step.variants.iter().filter(|v| v.own_subject) {
                let origin = Origin { file: c.file.clone(), inline_at: Some(v.text_at) };
                t.add(&Variant::subject_name(&c.id, &step.id, &v.id), false, &v.subject, origin, false, diags);
            }
        }
    }
    let all = t.html.get_templates().values().chain(t.text.get_templates().values());
    t.attribute_refs = all.flat_map(lint::attribute_refs).collect();
    t
}

fn collect(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(String, PathBuf)>, diags: &mut Diagnostics) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        diags.push(Diagnostic::error(dir, "cannot read this folder"));
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth < MAX_DEPTH {
                collect(root, &path, depth + 1, out, diags);
            }
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((rel, path));
        }
    }
}

fn add_file(t: &mut Templates, rel: &str, path: &Path, diags: &mut Diagnostics) {
    let (stem, kinds): (&str, &[bool]) = if let Some(s) = rel.strip_suffix(".html.hbs") {
        (s, &[true])
    } else if let Some(s) = rel.strip_suffix(".txt.hbs") {
        (s, &[false])
    } else if rel.starts_with("reminders/") && rel.ends_with(".subject.hbs") {
        // Registered as "reminders/task.subject", as the built-in is.
        (&rel[..rel.len() - ".hbs".len()], &[false])
    } else if let Some(s) = rel.strip_suffix(".hbs").filter(|_| rel.starts_with("partials/")) {
        (s, &[true, false])
    } else {
        if !rel.starts_with('.') && !rel.contains("/.") {
            diags.push(Diagnostic::warning(path, "ignored: templates are NAME.html.hbs or NAME.txt.hbs"));
        }
        return;
    };
    let source = match Source::read(path) {
        Ok(s) => s,
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    let (name, partial) = match stem.strip_prefix("partials/") {
        Some(p) => (p, true),
        None => (stem, false),
    };
    for &html in kinds {
        let origin = Origin { file: path.to_path_buf(), inline_at: None };
        t.add(name, html, &source.text, origin, partial, diags);
    }
}

impl Templates {
    pub(super) fn add(
        &mut self,
        name: &str,
        html: bool,
        source: &str,
        origin: Origin,
        partial: bool,
        diags: &mut Diagnostics,
    ) {
        let compiled = Template::compile_with_name(source, name.to_string());
        let (hb, origins) =
            if html { (&mut self.html, &mut self.html_origin) } else { (&mut self.text, &mut self.text_origin) };
        match compiled {
            Ok(tpl) => {
                // Partials and templates share the registry's namespace;
                // partials are looked up by `{{> name}}` only.
                if partial {
                    let _ = hb.register_partial(name, source);
                } else {
                    hb.register_template(name, tpl);
                }
                origins.insert(name.to_string(), origin);
            }
            Err(e) => {
                self.broken.insert((name.to_string(), html));
                let mut d = Diagnostic::error(&origin.file, syntax_message(e.reason()));
                if let Some((line, col)) = e.pos().or(origin.inline_at.map(|_| (1, 1))) {
                    let (line, col) = origin.position(line, col);
                    d = d.at(line, col);
                }
                diags.push(d);
            }
        }
    }
}

fn syntax_message(reason: &handlebars::TemplateErrorReason) -> String {
    match reason {
        handlebars::TemplateErrorReason::InvalidSyntax(_) => {
            "invalid Handlebars syntax here: an unclosed {{#block}}, a stray }} or a {{ without its }}?".into()
        }
        other => format!("invalid Handlebars syntax: {other}"),
    }
}
