//! `nurture report`: per campaign and step, what the emails and tasks led
//! to; per rep, how tasks are handled. Counted from the ledger (never from
//! metrics, which reset), in the campaigns' own step order.
//!
//! Rules (README, *Report*): `reached` is every step carried out or
//! skipped for a suppression (not `cancelled`); an unsubscribe, a reply
//! and a conversion are credited to the last email sent to the lead before
//! them; a conversion is an entry into a `[report] goal` status within
//! `[report] window` of that email; medians are over the credited replies
//! and the tasks done.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::definitions::Definitions;
use crate::store::{Result, Store};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepReport {
    pub step: String,
    pub kind: String,
    pub reached: i64,
    pub sent: i64,
    pub failed: i64,
    pub bounced: i64,
    pub suppressed: i64,
    pub uncertain: i64,
    pub cancelled: i64,
    /// Not final yet (sending, retrying).
    pub pending: i64,
    pub unsubscribed: i64,
    pub complaints: i64,
    pub replied: i64,
    pub auto_replies: i64,
    pub converted: i64,
    /// Seconds from the email to the reply, the median of this step's.
    pub median_reply_s: Option<i64>,
    /// Clicks on this step's tracked links by people (every one), and by
    /// machines (scanners, prefetchers: never scored).
    pub human_clicks: i64,
    pub machine_clicks: i64,
    /// Answers given from this step's emails.
    pub answers: i64,
    /// Hand-offs this step's email weighed most in: "which email made
    /// them ready".
    pub handoffs: i64,
    /// A step with variants: its A/B test, as the engine sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<TestReport>,
}

/// A step's variants compared (README, *A/B tests*): over the whole test,
/// not the report's period, counting emails a day old or more, as the
/// test's looks do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TestReport {
    /// What is counted (`replied` for a step without `[step.test]`).
    pub metric: String,
    pub min_sample: Option<u32>,
    pub confidence: Option<f64>,
    pub variants: Vec<VariantReport>,
    pub winner: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// `test` or `hand`.
    pub decided_by: Option<String>,
    pub looks: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VariantReport {
    pub variant: String,
    pub weight: f64,
    pub sent: u64,
    /// Leads that did what the metric counts within `[report] window`.
    pub hits: u64,
    pub rate: Option<f64>,
    /// The rate's 95 % Wilson interval.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Its chance to be the best variant (Beta posteriors).
    pub chance: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CampaignReport {
    pub campaign: String,
    /// Empty for a campaign no longer defined.
    pub name: String,
    pub enrolled: i64,
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepReport {
    pub rep: String,
    pub created: i64,
    pub done: i64,
    /// Open past their due time now.
    pub overdue: i64,
    pub median_done_s: Option<i64>,
    /// Leads handed to this rep as ready.
    pub handoffs: i64,
    /// Seconds from hand-off to done, the median of those done.
    pub handoff_median_done_s: Option<i64>,
    /// Of the hand-offs whose task is done or due by now, the share done
    /// by its due time (speed to lead).
    pub handoffs_done_in_time: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub goal: Vec<String>,
    pub campaigns: Vec<CampaignReport>,
    pub reps: Vec<RepReport>,
}

/// The report for everything since `since` (only `campaign` when given).
pub async fn build(
    defs: &Definitions,
    store: &dyn Store,
    campaign: Option<&str>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Report> {
    let goal = defs.config.report.goal.clone();
    let window = defs.config.report.window;
    let mut campaigns: BTreeMap<String, CampaignReport> = BTreeMap::new();
    let mut steps: BTreeMap<(String, String), StepReport> = BTreeMap::new();
    let mut replies: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    let wanted = |c: &str| campaign.is_none_or(|w| w == c);

    // Independent queries, at once: on PostgreSQL each has its connection.
    let (enrolled, deliveries, inbound, credited, tasks, readiness, handoffs, tests) = tokio::try_join!(
        store.enrolled(since),
        store.delivery_counts(since),
        store.inbound_by_step(since),
        store.credited(since, &goal),
        store.task_times(since),
        store.readiness_by_step(since),
        store.handoff_times(since),
        store.step_tests(),
    )?;
    for (c, n) in enrolled {
        if wanted(&c) {
            campaigns.entry(c.clone()).or_default().enrolled = n;
        }
    }
    for row in deliveries {
        let Some((s, what, n)) = step_of(&mut campaigns, &mut steps, &wanted, row) else { continue };
        match what.as_str() {
            "sent" => s.sent += n,
            "failed" => s.failed += n,
            "bounced" => s.bounced += n,
            "suppressed" => s.suppressed += n,
            "uncertain" => s.uncertain += n,
            "cancelled" => s.cancelled += n,
            _ => s.pending += n,
        }
        if what != "cancelled" {
            s.reached += n;
        }
    }
    // Inbound mail answers an email (its delivery may predate `since`);
    // replies are counted once, from the credited events below.
    for row in inbound {
        let Some((s, what, n)) = step_of(&mut campaigns, &mut steps, &wanted, row) else { continue };
        match what.as_str() {
            "complaint" => s.complaints += n,
            "auto_reply" => s.auto_replies += n,
            _ => {}
        }
    }
    for row in readiness {
        let Some((s, what, n)) = step_of(&mut campaigns, &mut steps, &wanted, row) else { continue };
        match what.as_str() {
            "click" => s.human_clicks += n,
            "machine" => s.machine_clicks += n,
            "answer" => s.answers += n,
            "handoff" => s.handoffs += n,
            _ => {}
        }
    }
    for e in credited {
        if !wanted(&e.campaign) {
            continue;
        }
        let key = (e.campaign.clone(), e.step.clone());
        let s = steps.entry(key.clone()).or_default();
        match e.kind.as_str() {
            "unsubscribed" => s.unsubscribed += 1,
            "replied" => {
                s.replied += 1;
                replies.entry(key).or_default().push((e.at - e.sent_at).num_seconds());
            }
            "status" if e.at - e.sent_at <= window => s.converted += 1,
            _ => {}
        }
        campaigns.entry(e.campaign).or_default();
    }
    for (key, mut times) in replies {
        if let Some(s) = steps.get_mut(&key) {
            s.median_reply_s = median(&mut times);
        }
    }

    // Each campaign's steps in its own order; steps no longer defined after.
    let mut out = Vec::new();
    for (id, mut c) in campaigns {
        let defined = defs.campaign(&id);
        c.campaign = id.clone();
        c.name = defined.map(|d| d.name.clone()).unwrap_or_default();
        let order: Vec<String> = defined.map(|d| d.steps.iter().map(|s| s.id.clone()).collect()).unwrap_or_default();
        // The whole funnel: a defined step nobody reached in the period
        // is a row of zeros, not a missing row.
        for step in defined.iter().flat_map(|d| &d.steps) {
            let s = steps.entry((id.clone(), step.id.clone())).or_default();
            if s.kind.is_empty() {
                s.kind = match step.action {
                    crate::campaign::Action::Email { .. } => crate::store::Kind::Email.as_str().into(),
                    crate::campaign::Action::Task { .. } => crate::store::Kind::Task.as_str().into(),
                };
            }
        }
        let mut mine: Vec<StepReport> = steps
            .iter()
            .filter(|((cid, _), _)| *cid == id)
            .map(|((_, sid), s)| StepReport { step: sid.clone(), ..s.clone() })
            .collect();
        mine.sort_by_key(|s| (order.iter().position(|o| *o == s.step).unwrap_or(usize::MAX), s.step.clone()));
        if let Some(d) = defined {
            for s in &mut mine {
                if let Some(step) = d.step(&s.step).filter(|st| !st.variants.is_empty()) {
                    s.test = Some(test_report(defs, store, d, step, &tests, now).await?);
                }
            }
        }
        c.steps = mine;
        out.push(c);
    }

    let mut reps: BTreeMap<String, (RepReport, Vec<i64>)> = BTreeMap::new();
    for t in tasks {
        let (r, done) = reps.entry(t.rep.clone()).or_default();
        r.created += 1;
        match t.done_at {
            Some(d) => {
                r.done += 1;
                done.push((d - t.created_at).num_seconds());
            }
            None if t.due_at < now => r.overdue += 1,
            None => {}
        }
    }
    // Speed to lead: per rep, hand-offs, the median to done, and the share
    // done in time of those whose due time has come (or that are done).
    let mut speed: BTreeMap<String, (i64, Vec<i64>, i64, i64)> = BTreeMap::new();
    for h in handoffs {
        let (n, done, settled, in_time) = speed.entry(h.rep.clone()).or_default();
        *n += 1;
        if let Some(d) = h.done_at {
            done.push((d - h.created_at).num_seconds());
        }
        if h.done_at.is_some() || h.due_at <= now {
            *settled += 1;
            *in_time += i64::from(h.done_at.is_some_and(|d| d <= h.due_at));
        }
        reps.entry(h.rep).or_default();
    }
    let reps = reps
        .into_iter()
        .map(|(rep, (mut r, mut done))| {
            r.median_done_s = median(&mut done);
            if let Some((n, mut done, settled, in_time)) = speed.remove(&rep) {
                r.handoffs = n;
                r.handoff_median_done_s = median(&mut done);
                r.handoffs_done_in_time = (settled > 0).then(|| in_time as f64 / settled as f64);
            }
            r.rep = rep;
            r
        })
        .collect();
    Ok(Report { since, goal, campaigns: out, reps })
}

/// The step a row counts under (its campaign listed too), unless the report
/// is for another campaign: the step, and the row's `what` and count.
fn step_of<'a>(
    campaigns: &mut BTreeMap<String, CampaignReport>,
    steps: &'a mut BTreeMap<(String, String), StepReport>,
    wanted: &dyn Fn(&str) -> bool,
    row: crate::store::StepCount,
) -> Option<(&'a mut StepReport, String, i64)> {
    if !wanted(&row.campaign) {
        return None;
    }
    campaigns.entry(row.campaign.clone()).or_default();
    let s = steps.entry((row.campaign, row.step)).or_default();
    if s.kind.is_empty() {
        s.kind = row.kind;
    }
    Some((s, row.what, row.n))
}

/// A step's variants compared, with its test's state.
async fn test_report(
    defs: &Definitions,
    store: &dyn Store,
    c: &crate::campaign::Campaign,
    step: &crate::campaign::Step,
    tests: &[crate::store::StepTest],
    now: DateTime<Utc>,
) -> Result<TestReport> {
    let metric = step.test.map_or(crate::abtest::Metric::Replied, |t| t.metric);
    let sent = store.sent_variants(&c.id, &step.id, metric, &defs.config.report.goal).await?;
    let tallies = crate::engine::abtests::tallies(step, &sent, defs.config.report.window, now);
    let chances = crate::abtest::stats::chance_to_be_best(&tallies);
    let stored = tests.iter().find(|t| t.campaign == c.id && t.step == step.id);
    let variants = step
        .variants
        .iter()
        .zip(&tallies)
        .zip(&chances)
        .map(|((v, t), p)| {
            let interval = crate::abtest::stats::interval(*t);
            VariantReport {
                variant: v.id.clone(),
                weight: v.weight,
                sent: t.sent,
                hits: t.hits,
                rate: (t.sent > 0).then(|| t.hits as f64 / t.sent as f64),
                low: interval.map(|i| i.0),
                high: interval.map(|i| i.1),
                chance: *p,
            }
        })
        .collect();
    Ok(TestReport {
        metric: metric.as_str().to_string(),
        min_sample: step.test.map(|t| t.min_sample),
        confidence: step.test.map(|t| t.confidence),
        variants,
        winner: stored.and_then(|t| t.winner.clone()),
        decided_at: stored.and_then(|t| t.decided_at),
        decided_by: stored.and_then(|t| t.decided_by.clone()),
        looks: stored.map_or(0, |t| t.looks),
    })
}

impl TestReport {
    /// The heading and table `report` prints under a step with variants;
    /// the console shows the same rows.
    pub fn rows(&self) -> Vec<Vec<String>> {
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let mut rows = vec![
            ["variant", "weight", "sent", &self.metric, "rate", "95% interval", "chance best"]
                .map(String::from)
                .to_vec(),
        ];
        for v in &self.variants {
            let won = if self.winner.as_deref() == Some(v.variant.as_str()) { " (winner)" } else { "" };
            rows.push(vec![
                format!("{}{won}", v.variant),
                format!("{}", v.weight),
                v.sent.to_string(),
                v.hits.to_string(),
                v.rate.map(pct).unwrap_or_else(|| "-".into()),
                match (v.low, v.high) {
                    (Some(l), Some(h)) => format!("{}-{}", pct(l), pct(h)),
                    _ => "-".into(),
                },
                pct(v.chance),
            ]);
        }
        rows
    }

    /// One line: the test's settings and its state.
    pub fn summary(&self) -> String {
        let settings = match (self.min_sample, self.confidence) {
            (Some(n), Some(c)) => format!("test by {}, {n} leads each, confidence {c}", self.metric),
            _ => format!("no [step.test]: shared by weight; {} shown", self.metric),
        };
        let state = match (&self.winner, self.decided_at) {
            (Some(w), Some(at)) => {
                let by = if self.decided_by.as_deref() == Some("hand") {
                    "set by hand".to_string()
                } else {
                    format!("won at look {}", self.looks)
                };
                format!("winner {w} since {} ({by}); later leads get it", crate::template::context::rfc3339(at))
            }
            _ if self.min_sample.is_none() => String::new(),
            _ if self.looks > 0 => format!("no winner after {} looks", self.looks),
            _ => "no winner yet: waiting for every variant's sample".into(),
        };
        if state.is_empty() { settings } else { format!("{settings}; {state}") }
    }
}

/// The middle value (the lower of the two middle ones for an even count).
fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// `3d 4h`, `2h 5m`, `40s`: a duration for people.
pub fn human(seconds: i64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

impl Report {
    /// One table per campaign, then the reps.
    pub fn text(&self) -> String {
        let mut out = format!(
            "since {}; conversions: entering {} within the window after an email\n",
            crate::template::context::rfc3339(self.since),
            if self.goal.is_empty() { "(no goal set)".to_string() } else { self.goal.join(" or ") }
        );
        const HEAD: [&str; 19] = [
            "step", "kind", "reached", "sent", "failed", "bounced", "suppr.", "uncert.", "cancel.", "unsub.", "compl.",
            "replied", "auto", "conv.", "reply in", "clicks", "machine", "answers", "ready",
        ];
        for c in &self.campaigns {
            let title = if c.name.is_empty() { "(no longer defined)" } else { &c.name };
            out += &format!("\n{} — {title}: {} enrolled\n", c.campaign, c.enrolled);
            let mut rows = vec![HEAD.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            for s in &c.steps {
                let n = |v: i64| v.to_string();
                rows.push(vec![
                    s.step.clone(),
                    s.kind.clone(),
                    n(s.reached),
                    n(s.sent),
                    n(s.failed),
                    n(s.bounced),
                    n(s.suppressed),
                    n(s.uncertain),
                    n(s.cancelled),
                    n(s.unsubscribed),
                    n(s.complaints),
                    n(s.replied),
                    n(s.auto_replies),
                    n(s.converted),
                    s.median_reply_s.map(human).unwrap_or_else(|| "-".into()),
                    n(s.human_clicks),
                    n(s.machine_clicks),
                    n(s.answers),
                    n(s.handoffs),
                ]);
            }
            out += &table(&rows, 2);
            for s in &c.steps {
                if let Some(t) = &s.test {
                    out += &format!("  step {}: {}\n", s.step, t.summary());
                    out += &table(&t.rows(), 1).replace("\n  ", "\n    ").replacen("  ", "    ", 1);
                }
            }
        }
        if self.campaigns.is_empty() {
            out += "\nno campaign activity in this period\n";
        }
        if !self.reps.is_empty() {
            out += "\nreps\n";
            let head = ["rep", "tasks", "done", "overdue", "median to done", "hand-offs", "to done", "in time"];
            let mut rows = vec![head.map(String::from).to_vec()];
            for r in &self.reps {
                rows.push(vec![
                    r.rep.clone(),
                    r.created.to_string(),
                    r.done.to_string(),
                    r.overdue.to_string(),
                    r.median_done_s.map(human).unwrap_or_else(|| "-".into()),
                    r.handoffs.to_string(),
                    r.handoff_median_done_s.map(human).unwrap_or_else(|| "-".into()),
                    r.handoffs_done_in_time.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(|| "-".into()),
                ]);
            }
            out += &table(&rows, 1);
        }
        out
    }
}

/// Columns padded to their widest cell; the first `left` left-aligned
/// (names), the rest right-aligned (numbers).
fn table(rows: &[Vec<String>], left: usize) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r.get(i).map_or(0, |c| c.chars().count())).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i < left { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect();
        out += "  ";
        out += cells.join("  ").trim_end();
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{human, median};

    #[test]
    fn medians_and_durations_read_as_the_readme_says() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5, 1, 3]), Some(3));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2), "the lower middle");
        assert_eq!(human(40), "40s");
        assert_eq!(human(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(human(2 * 86_400 + 7200), "2d 2h");
    }
}
