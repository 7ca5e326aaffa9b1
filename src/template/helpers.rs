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

pub fn register(hb: &mut Handlebars<'static>) {
    hb.register_helper("default", Box::new(DefaultHelper));
}
