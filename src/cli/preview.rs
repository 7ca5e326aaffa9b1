//! `nurture preview CAMPAIGN`: what a step will look like for a lead.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use crate::campaign::{Action, Assign};
use crate::definitions::Definitions;
use crate::template::inline_name;

/// What to show: one step, for one lead, as one variant (each `None`:
/// every step, the sample lead, the variants as below).
#[derive(Debug, Clone, Copy, Default)]
pub struct Only<'a> {
    pub step: Option<&'a str>,
    pub lead: Option<&'a str>,
    pub variant: Option<&'a str>,
}

pub async fn run(config: Option<&Path>, campaign: &str, only: Only<'_>, now: DateTime<Utc>) -> Result<(), Failure> {
    let Only { step, lead, variant } = only;
    let (defs, diags) = Definitions::load(config, now);
    if diags.has_errors() {
        eprint!("{diags}");
    }
    let Some(c) = defs.campaign(campaign) else {
        let known: Vec<&str> = defs.campaigns.iter().map(|c| c.id.as_str()).collect();
        return Err(Failure::Invalid(format!("unknown campaign {campaign:?}; known: {}", known.join(", "))));
    };
    // With a lead from the database, the tests' winners too: the lead's
    // variant is the winner's once there is one.
    let (sample, unsubscribe, winners) = match lead {
        None => (defs.sample_lead(c, now), defs.sample_unsubscribe_url(), Vec::new()),
        Some(email) => {
            let db = super::db::open(config, now).await?;
            let lead = db.store().lead_by_email(email).await.map_err(super::db::db_error)?;
            let lead = lead.ok_or_else(|| Failure::Invalid(format!("unknown lead {email}")))?;
            let url = db.engine.links().unsubscribe_url(lead.id);
            let tests = db.store().step_tests().await.map_err(super::db::db_error)?;
            let winners: Vec<(String, String)> =
                tests.into_iter().filter(|t| t.campaign == c.id).filter_map(|t| Some((t.step, t.winner?))).collect();
            (lead, url, winners)
        }
    };
    let winner = |step: &str| winners.iter().find(|(s, _)| s == step).map(|(_, w)| w.as_str());
    let steps: Vec<_> = c.steps.iter().filter(|s| step.is_none_or(|id| s.id == id)).collect();
    if steps.is_empty() {
        let known: Vec<&str> = c.steps.iter().map(|s| s.id.as_str()).collect();
        return Err(Failure::Invalid(format!(
            "campaign {campaign} has no step {:?}; steps: {}",
            step.unwrap_or(""),
            known.join(", ")
        )));
    }
    if let Some(v) = variant
        && !steps.iter().any(|s| s.variants.iter().any(|x| x.id == v))
    {
        let known: Vec<String> =
            steps.iter().flat_map(|s| s.variants.iter().map(move |x| format!("{}/{}", s.id, x.id))).collect();
        return Err(Failure::Invalid(format!(
            "no step shown has a variant {v:?}; variants: {}",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    }
    let mut out = String::new();
    for s in steps {
        let data = defs.email_data(c, s, &sample, &unsubscribe, now);
        let inline = inline_name(&c.id, &s.id);
        let fail = |e: crate::template::RenderFailure| Failure::Invalid(e.to_string());
        match &s.action {
            Action::Email { .. } => {
                // The variants shown: the one asked for, the lead's own (as
                // the hash gives it), or all of them for the sample lead.
                let forms: Vec<_> = match (variant, lead) {
                    _ if s.variants.is_empty() => vec![None],
                    (Some(v), _) => s.variants.iter().filter(|x| x.id == v).map(Some).collect(),
                    (None, Some(_)) => vec![s.variant_for(&c.id, &sample.email, winner(&s.id))],
                    (None, None) => s.variants.iter().map(Some).collect(),
                };
                for v in forms {
                    let Some(form) = s.form(&c.id, v) else { continue };
                    let email = defs.templates.render_email(form.template, &form.subject, &data).map_err(fail)?;
                    let shown =
                        if form.variant.is_empty() { String::new() } else { format!(" variant {}", form.variant) };
                    let _ = writeln!(out, "=== {}/{}{shown} email to {} ===", c.id, s.id, sample.email);
                    let _ = writeln!(out, "Subject: {}\n\n--- text ---\n{}", email.subject, email.text.trim_end());
                    match &email.html {
                        Some(html) => {
                            let _ = writeln!(out, "--- html ---\n{}", html.trim_end());
                        }
                        None => out.push_str("--- html ---\n(none: text only)\n"),
                    }
                }
            }
            Action::Task { assign, due, .. } => {
                let text = defs.templates.render_text(&inline, &data).map_err(fail)?;
                let to = match assign {
                    Assign::Owner => format!("owner {}", sample.owner),
                    Assign::Rep(r) => r.clone(),
                    Assign::RoundRobin => "the next rep, round-robin".into(),
                };
                let _ = writeln!(out, "=== {}/{} task for {to} ===", c.id, s.id);
                let _ =
                    writeln!(out, "Task: {}\nDue: {} after it is created", text.trim(), crate::duration::format(*due));
            }
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}
