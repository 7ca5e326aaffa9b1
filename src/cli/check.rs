//! `nurture check`: every problem in config, campaigns and templates, one
//! `path:line:col: message` line each on stderr, errors and warnings alike.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Failure;
use crate::definitions::Definitions;

/// `json`: under `--log-format json` (or the config's `log_format`), as
/// in systemd's `ExecStartPre`, every line is a JSON log event instead, so
/// the journal stays JSON.
pub fn run(config: Option<&Path>, now: DateTime<Utc>, json: bool) -> Result<(), Failure> {
    let (defs, diags) = Definitions::load(config, now);
    if json {
        for d in &diags.0 {
            let problem = d.to_string();
            match d.is_error() {
                true => tracing::error!(problem, "Check found a problem."),
                false => tracing::warn!(problem, "Check found a problem."),
            }
        }
    } else {
        eprint!("{diags}");
    }
    let errors = diags.errors().count();
    if errors > 0 {
        return Err(Failure::Invalid(format!("check: {errors} error(s); nothing was changed")));
    }
    let steps: usize = defs.campaigns.iter().map(|c| c.steps.len()).sum();
    let campaigns = defs.campaigns.len();
    let templates = defs.config.templates_dir.display().to_string();
    if json {
        tracing::info!(campaigns, steps, templates, "Check passed.");
    } else {
        println!("ok: {campaigns} campaign(s), {steps} step(s), templates in {templates}");
    }
    Ok(())
}

/// `check --database`: for each campaign with enrolments under way, how
/// many wait at each step and which of them wait at a step the file no
/// longer has (they end at their next step); each webhook disabled. The
/// reload log says more (it knows the previous files): inserted steps
/// skipped, `after` changes.
pub async fn enrolments(config: Option<&Path>, now: DateTime<Utc>) -> Result<(), Failure> {
    let db = super::db::open(config, now).await?;
    for c in &db.defs().campaigns {
        let waiting = db.store().active_by_step(&c.id).await.map_err(super::db::db_error)?;
        if waiting.is_empty() {
            continue;
        }
        let i = crate::campaign::edit::impact(None, c, &waiting);
        let at: Vec<String> = waiting.iter().map(|(s, n)| format!("{n} at {s}")).collect();
        println!("{} ({})", i.summary(), at.join(", "));
    }
    let tests = db.store().step_tests().await.map_err(super::db::db_error)?;
    for c in &db.defs().campaigns {
        for step in c.steps.iter().filter(|s| s.test.is_some()) {
            if tests.iter().any(|t| t.campaign == c.id && t.step == step.id && t.winner.is_some()) {
                continue;
            }
            let test = step.test.expect("filtered on a test");
            let sent =
                db.store().sent_variants(&c.id, &step.id, test.metric, &[]).await.map_err(super::db::db_error)?;
            if let Some(warning) = sample_warning(&c.id, step, &test, &sent, now) {
                eprintln!("warning: {warning}");
            }
        }
    }
    // A webhook a receiver disabled (410 Gone) sends nothing until a
    // replay: a warning, as the other problems a file cannot show.
    for hook in &db.defs().config.webhooks {
        let s = db.store().hook_stats(&hook.name).await.map_err(super::db::db_error)?;
        if let Some((at, why)) = s.disabled {
            eprintln!(
                "warning: webhook {} disabled since {} ({why}); {} event(s) wait: `nurture webhooks replay all` \
                 enables it",
                hook.name,
                crate::template::context::rfc3339(at),
                s.pending
            );
        }
    }
    Ok(())
}

/// A test whose slowest variant would not reach `min_sample` within a
/// year at the last 30 days' rate of this step's emails (README, *A/B
/// tests*); `None` when it will, or when nothing was sent to judge by.
fn sample_warning(
    campaign: &str,
    step: &crate::campaign::Step,
    test: &crate::abtest::decide::Test,
    sent: &[crate::store::SentVariant],
    now: DateTime<Utc>,
) -> Option<String> {
    let recent = sent.iter().filter(|s| s.sent_at >= now - chrono::TimeDelta::days(30)).count() as f64;
    if recent == 0.0 {
        return None;
    }
    let total: f64 = step.variants.iter().map(|v| v.weight).sum();
    let slowest = step.variants.iter().min_by(|a, b| a.weight.total_cmp(&b.weight))?;
    let has = sent.iter().filter(|s| s.variant == slowest.id).count() as f64;
    let per_day = recent / 30.0 * slowest.weight / total;
    let days = (f64::from(test.min_sample) - has).max(0.0) / per_day;
    (days > 365.0).then(|| {
        format!(
            "{campaign}/{}: variant {} gets about {:.1} leads a day (the last 30 days' emails); it reaches min_sample \
             {} in about {:.0} days, over a year: lower min_sample, weigh the variants evenly, or widen the audience",
            step.id, slowest.id, per_day, test.min_sample, days
        )
    })
}

#[cfg(test)]
mod tests {
    use super::sample_warning;
    use crate::abtest::{Metric, decide::Test};
    use crate::campaign::{Action, Step, Variant};
    use crate::store::SentVariant;

    #[test]
    fn a_sample_out_of_reach_within_a_year_is_warned_of() {
        let variant = |id: &str, weight| Variant {
            id: id.into(),
            template: "t".into(),
            subject: "s".into(),
            own_subject: false,
            weight,
            line: (1, 1),
            text_at: (1, 1),
        };
        let test = Test { metric: Metric::Replied, min_sample: 200, confidence: 0.95 };
        let step = Step {
            id: "value".into(),
            after: chrono::TimeDelta::zero(),
            action: Action::Email { template: "t".into(), subject: "s".into() },
            line: (1, 1),
            text_at: (1, 1),
            variants: vec![variant("a", 9.0), variant("b", 1.0)],
            test: Some(test),
        };
        let now = chrono::Utc::now();
        let sent = |n: usize| -> Vec<SentVariant> {
            (0..n)
                .map(|i| SentVariant {
                    variant: if i % 10 == 0 { "b" } else { "a" }.into(),
                    sent_at: now,
                    hit_at: None,
                })
                .collect()
        };
        // 30 emails a month: b gets 0.1 a day, 200 takes ~2,000 days.
        let w = sample_warning("c", &step, &test, &sent(30), now).expect("a warning");
        assert!(w.contains("c/value: variant b gets about 0.1 leads a day"), "{w}");
        // 600 a month: b gets 2 a day, 200 in about 94 days.
        assert_eq!(sample_warning("c", &step, &test, &sent(600), now), None);
        assert_eq!(sample_warning("c", &step, &test, &[], now), None, "nothing sent: nothing to judge by");
    }
}
