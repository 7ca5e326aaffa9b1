//! Static checks over compiled templates. Strict mode only catches a
//! misspelt variable in the branch that renders; names inside `{{#if}}`,
//! helper arguments (`{{default lead.compnay "x"}}`) and untaken branches
//! slip through. This walks every expression instead.

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Handlebars, Path};
use serde_json::Value;

/// Helpers that exist in every registry here; a bare `{{name}}` that is one
/// of them is a helper call, not a variable.
const HELPERS: [&str; 17] = [
    "if", "unless", "each", "with", "lookup", "log", "raw", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not",
    "default",
];

/// Partials nest; a partial that includes itself must not hang `check`.
const MAX_PARTIAL_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Variables that do not exist in `data`, with a suggestion when one is close.
pub fn unknown_variables(t: &Template, data: &Value, registry: &Handlebars) -> Vec<Finding> {
    let mut out = Vec::new();
    walk(t, true, registry, 0, &mut |raw, line, col, same_scope| {
        if !same_scope {
            return;
        }
        if let Some(message) = check_path(raw, data) {
            out.push(Finding { line, col, message });
        }
    });
    out
}

/// The `NAME`s of every `lead.attributes.NAME` a template mentions.
pub fn attribute_refs(t: &Template) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Handlebars::new();
    walk(t, true, &empty, MAX_PARTIAL_DEPTH, &mut |raw, _, _, _| {
        let segs = segments(raw);
        if segs.len() >= 3 && segs[0] == "lead" && segs[1] == "attributes" {
            out.push(segs[2].to_string());
        }
    });
    out
}

/// Lead fields an import may leave blank: a subject or a greeting that
/// prints one bare reads "Still weighing 's options?".
const MAY_BE_BLANK: [&str; 5] = ["first_name", "last_name", "company", "lost_reason", "owner"];

/// `{{lead.FIELD}}` printed bare (outside any `{{#if}}` or helper) for a
/// field that may be blank, with what to write instead.
pub fn bare_blank_fields(t: &Template) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, element) in t.elements.iter().enumerate() {
        let (line, col) = t.mapping.get(i).map_or((1, 1), |m| (m.0, m.1));
        let (TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht)) = element else { continue };
        let Parameter::Path(Path::Relative((_, raw))) = &ht.name else { continue };
        let segs = segments(raw);
        if ht.params.is_empty() && segs.len() == 2 && segs[0] == "lead" && MAY_BE_BLANK.contains(&segs[1]) {
            out.push(Finding {
                line,
                col,
                message: format!(
                    "`{raw}` is blank for leads imported without it, and the text then reads oddly; \
                     write {{{{default {raw} \"...\"}}}} or {{{{#if {raw}}}}}...{{{{/if}}}}"
                ),
            });
        }
    }
    out
}

type Visit<'a> = dyn FnMut(&str, usize, usize, bool) + 'a;

fn walk(t: &Template, same_scope: bool, hb: &Handlebars, depth: usize, visit: &mut Visit) {
    for (i, element) in t.elements.iter().enumerate() {
        let (line, col) = t.mapping.get(i).map_or((1, 1), |m| (m.0, m.1));
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                helper(ht, same_scope, line, col, visit);
            }
            TemplateElement::HelperBlock(ht) => {
                helper(ht, same_scope, line, col, visit);
                let name = ht.name.as_name().unwrap_or("");
                // `if`/`unless` keep the context; `each`, `with` and custom
                // block helpers change what relative names mean.
                let keeps = matches!(name, "if" | "unless");
                for body in [&ht.template, &ht.inverse].into_iter().flatten() {
                    walk(body, same_scope && keeps, hb, depth, visit);
                }
            }
            TemplateElement::PartialExpression(dt) | TemplateElement::PartialBlock(dt) => {
                for p in dt.params.iter().chain(dt.hash.values()) {
                    param(p, same_scope, line, col, visit);
                }
                let partial = dt.name.as_name().and_then(|n| hb.get_template(n));
                if let Some(partial) = partial.filter(|_| depth < MAX_PARTIAL_DEPTH) {
                    // A partial's positions are in its own file (linted on
                    // its own); here they are reported where it is included.
                    let mut at_call = |raw: &str, _: usize, _: usize, scope: bool| visit(raw, line, col, scope);
                    walk(partial, same_scope && dt.params.is_empty(), hb, depth + 1, &mut at_call);
                }
                if let Some(body) = &dt.template {
                    walk(body, same_scope, hb, depth, visit);
                }
            }
            _ => {}
        }
    }
}

fn helper(ht: &HelperTemplate, same_scope: bool, line: usize, col: usize, visit: &mut Visit) {
    let bare = ht.params.is_empty() && ht.hash.is_empty() && !ht.block;
    match &ht.name {
        Parameter::Name(n) if bare && !HELPERS.contains(&n.as_str()) => visit(n, line, col, same_scope),
        Parameter::Path(_) | Parameter::Subexpression(_) => param(&ht.name, same_scope, line, col, visit),
        _ => {}
    }
    for p in ht.params.iter().chain(ht.hash.values()) {
        param(p, same_scope, line, col, visit);
    }
}

fn param(p: &Parameter, same_scope: bool, line: usize, col: usize, visit: &mut Visit) {
    match p {
        Parameter::Path(Path::Relative((_, raw))) => visit(raw, line, col, same_scope),
        Parameter::Subexpression(sub) => {
            if let TemplateElement::Expression(ht) | TemplateElement::HelperBlock(ht) = sub.as_element() {
                helper(ht, same_scope, line, col, visit);
            }
        }
        _ => {}
    }
}

fn segments(raw: &str) -> Vec<&str> {
    let raw = raw.strip_prefix("this.").or_else(|| raw.strip_prefix("./")).unwrap_or(raw);
    let raw = raw.strip_prefix("@root.").unwrap_or(raw);
    raw.split(['.', '/']).map(|s| s.trim_matches(['[', ']'])).filter(|s| !s.is_empty()).collect()
}

fn check_path(raw: &str, data: &Value) -> Option<String> {
    if raw.starts_with("..") || raw.starts_with('@') || raw == "this" || raw == "." {
        return None;
    }
    let mut at = data;
    let mut walked = Vec::new();
    for seg in segments(raw) {
        let Value::Object(map) = at else { return None };
        match map.get(seg) {
            Some(v) => at = v,
            None => {
                let near =
                    map.keys().map(|k| (strsim::levenshtein(k, seg), k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k);
                let prefix = if walked.is_empty() { String::new() } else { format!("{}.", walked.join(".")) };
                // A bare `{{company}}` is most often `lead.company`.
                let nested = || {
                    map.iter()
                        .find_map(|(k, v)| v.as_object().filter(|o| o.contains_key(seg)).map(|_| format!("{k}.{seg}")))
                };
                let hint = match near {
                    Some(k) => format!("; did you mean `{prefix}{k}`?"),
                    None if walked.is_empty() => match nested() {
                        Some(path) => format!("; did you mean `{path}`?"),
                        None => "; see the variable list in the README".to_string(),
                    },
                    None => {
                        format!("; `{}` has {}", walked.join("."), map.keys().cloned().collect::<Vec<_>>().join(", "))
                    }
                };
                return Some(format!("unknown variable `{raw}`{hint}"));
            }
        }
        walked.push(seg);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_that_may_be_blank_printed_bare_is_found_and_a_guarded_one_is_not() {
        let found = |src: &str| bare_blank_fields(&Template::compile(src).unwrap());
        let f = found("Still weighing {{lead.company}}'s options?");
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("{{default lead.company"), "{}", f[0].message);
        assert!(
            found("Hi {{default lead.first_name \"there\"}}, {{#if lead.company}}{{lead.company}}{{/if}}").is_empty()
        );
        assert!(found("{{lead.email}} {{campaign.name}}").is_empty());
    }

    #[test]
    fn a_bare_field_name_suggests_its_full_path() {
        let found = lint("Hi {{company}}");
        assert!(found[0].message.contains("did you mean `lead.company`?"), "{:?}", found[0].message);
    }

    fn lint(src: &str) -> Vec<Finding> {
        let data = json!({"lead": {"company": "Acme", "attributes": {"region": "emea"}}, "unsubscribe_url": "u"});
        unknown_variables(&Template::compile(src).unwrap(), &data, &Handlebars::new())
    }

    #[test]
    fn finds_typos_in_plain_expressions_with_position_and_suggestion() {
        let f = lint("Hi\n  {{lead.compnay}}");
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line, f[0].col), (2, 3));
        assert!(f[0].message.contains("`lead.compnay`") && f[0].message.contains("`lead.company`"), "{f:?}");
    }

    #[test]
    fn finds_typos_that_strict_mode_misses() {
        assert_eq!(lint("{{#if lead.compnay}}x{{/if}}").len(), 1);
        assert_eq!(lint("{{#if false}}{{lead.compnay}}{{else}}{{lead.compnay}}{{/if}}").len(), 2);
        assert_eq!(lint("{{default lead.compnay \"x\"}}").len(), 1);
        assert_eq!(lint("{{default (default lead.compnay \"x\") \"y\"}}").len(), 1);
    }

    #[test]
    fn accepts_known_names_helpers_and_changed_scopes() {
        assert!(lint("{{lead.company}} {{unsubscribe_url}} {{lead.attributes.region}}").is_empty());
        assert!(lint("{{#each lead}}{{whatever}}{{/each}}{{#with lead}}{{company}}{{/with}}").is_empty());
        assert!(lint("{{#if lead.company}}{{this.lead.company}}{{/if}}").is_empty());
    }

    #[test]
    fn a_typo_inside_a_partial_is_reported_where_the_partial_is_included() {
        // Found by `fuzz/` (template): the partial's own line was reported
        // against the including file, past its end.
        let mut hb = Handlebars::new();
        hb.register_partial("footer", "\n\n\n  {{postal_adress}}").unwrap();
        let data = json!({"postal_address": "1 Main St"});
        let f = unknown_variables(&Template::compile("Hi\n {{> footer}}").unwrap(), &data, &hb);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].line, f[0].col), (2, 2), "{f:?}");
    }

    #[test]
    fn collects_attribute_names() {
        let t = Template::compile("{{lead.attributes.region}} {{#if lead.attributes.tier}}x{{/if}}").unwrap();
        assert_eq!(attribute_refs(&t), vec!["region", "tier"]);
    }
}
