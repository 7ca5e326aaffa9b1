//! Template helpers beyond Handlebars' built-ins.

use handlebars::{Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, ScopedJson};
use serde_json::Value;

/// `{{default lead.first_name "there"}}`: the first argument unless it is
/// missing, null or blank, else the second. Helper arguments are exempt
/// from strict mode, which is what lets a fallback work at all.
pub struct DefaultHelper;

impl HelperDef for DefaultHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let blank = |v: &Value| match v {
            Value::Null => true,
            Value::String(s) => s.trim().is_empty(),
            _ => false,
        };
        let value = match h.param(0) {
            Some(p) if !p.is_value_missing() && !blank(p.value()) => p.value().clone(),
            _ => h.param(1).map(|p| p.value().clone()).unwrap_or(Value::Null),
        };
        Ok(ScopedJson::Derived(value))
    }
}

/// `{{answer_url "ready"}}`: the link of a configured `[answers.NAME]`
/// (signed for the lead and email when it is sent). An unknown name fails
/// the render, naming the configured ones, so `check` reports it.
pub struct AnswerUrl;

impl HelperDef for AnswerUrl {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let fail = |m: String| RenderError::from(handlebars::RenderErrorReason::Other(m));
        let name = h
            .param(0)
            .and_then(|p| p.value().as_str())
            .ok_or_else(|| fail("answer_url takes the answer's name in quotes: {{answer_url \"ready\"}}".into()))?;
        let urls = ctx.data().get("answer_urls").and_then(Value::as_object);
        match urls.and_then(|u| u.get(name)) {
            Some(url) => Ok(ScopedJson::Derived(url.clone())),
            None => {
                let known: Vec<&str> = urls.map(|u| u.keys().map(String::as_str).collect()).unwrap_or_default();
                let hint = crate::fields::nearest(name, known.iter().copied(), 3)
                    .map(|n| format!("did you mean {n:?}? "))
                    .unwrap_or_default();
                Err(fail(format!(
                    "answer_url {name:?} is not an [answers.NAME] of the config; {hint}configured: {}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )))
            }
        }
    }
}

pub fn register(hb: &mut Handlebars<'static>) {
    hb.register_helper("default", Box::new(DefaultHelper));
    hb.register_helper("answer_url", Box::new(AnswerUrl));
}
