//! A/B tests in the running engine (README, *A/B tests*): the winners in
//! force (read with the pauses at each tick, so a winner declared by
//! another replica or by hand holds here soon after), and the looks each
//! tested step takes once its variants have their samples, then at most
//! daily, declaring a winner when the rule of `abtest::decide` allows.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::events::Kind as Ev;
use super::{Engine, Event, Result};
use crate::abtest::{Tally, decide};
use crate::campaign::{Campaign, Step};
use crate::mail::Outgoing;
use crate::store::{SentVariant, StepTest};

/// How often a tested step is looked at once it has its samples.
pub const LOOK_EVERY: TimeDelta = TimeDelta::days(1);
/// How often a step still short of its samples is counted again.
const COUNT_EVERY: TimeDelta = TimeDelta::hours(1);
/// An email joins its variant's sample once this old: a look right after
/// a batch went out would find every lead not yet answered, and spend its
/// share of the error on nothing.
pub const AGE: TimeDelta = TimeDelta::days(1);

/// The tests' state as this engine last read it.
#[derive(Debug, Default)]
pub(super) struct Tests {
    stored: HashMap<StepKey, StepTest>,
    /// A step short of its samples: not counted again before the first
    /// time, and (the second) when its next email comes of age.
    counted: HashMap<StepKey, (DateTime<Utc>, Option<DateTime<Utc>>)>,
}

/// A campaign's step: (campaign id, step id).
type StepKey = (String, String);

/// Each variant's figures at `now`, in the step's order: its emails sent
/// [`AGE`] or more ago, and those whose lead did what the metric counts
/// within `window` of the email. Emails of variants no longer defined are
/// left out.
pub fn tallies(step: &Step, sent: &[SentVariant], window: TimeDelta, now: DateTime<Utc>) -> Vec<Tally> {
    let mut out = vec![Tally::default(); step.variants.len()];
    for s in sent.iter().filter(|s| s.sent_at + AGE <= now) {
        if let Some(i) = step.variants.iter().position(|v| v.id == s.variant) {
            out[i].sent += 1;
            out[i].hits += u64::from(s.hit_at.is_some_and(|h| h - s.sent_at <= window));
        }
    }
    out
}

impl Engine {
    fn has_tests(&self) -> bool {
        self.defs.campaigns.iter().any(|c| c.steps.iter().any(|s| !s.variants.is_empty()))
    }

    /// Read the winners and looks in force (only when some step has
    /// variants: otherwise there is nothing to read).
    pub(super) async fn refresh_tests(&self) -> Result<()> {
        if !self.has_tests() {
            return Ok(());
        }
        let stored = self.store.step_tests().await?;
        if let Ok(mut t) = self.tests.lock() {
            t.stored = stored.into_iter().map(|s| ((s.campaign.clone(), s.step.clone()), s)).collect();
        }
        Ok(())
    }

    /// The winner of a step's test, if one is set.
    pub(super) fn winner(&self, campaign: &str, step: &str) -> Option<String> {
        let t = self.tests.lock().ok()?;
        t.stored.get(&(campaign.to_string(), step.to_string()))?.winner.clone()
    }

    /// When the next look of a test is due, or a test short of its
    /// samples may have them (an email comes of age).
    pub(super) fn next_look(&self) -> Option<DateTime<Utc>> {
        let t = self.tests.lock().ok()?;
        let looks =
            t.stored.values().filter(|s| s.winner.is_none()).filter_map(|s| s.looked_at).map(|at| at + LOOK_EVERY);
        looks.chain(t.counted.values().filter_map(|(_, wake)| *wake)).min()
    }

    /// Take the looks that are due, for every tested step of the campaigns
    /// that act.
    pub(super) async fn look_at_tests(&self, now: DateTime<Utc>) -> Result<()> {
        if !self.has_tests() {
            return Ok(());
        }
        for c in self.acting() {
            for step in c.steps.iter().filter(|s| s.test.is_some()) {
                self.look_at(c, step, now).await?;
            }
        }
        Ok(())
    }

    async fn look_at(&self, c: &Campaign, step: &Step, now: DateTime<Utc>) -> Result<()> {
        let Some(test) = step.test else { return Ok(()) };
        let key = (c.id.clone(), step.id.clone());
        let (looks, looked_at, counted) = {
            let Ok(t) = self.tests.lock() else { return Ok(()) };
            let stored = t.stored.get(&key);
            if stored.is_some_and(|s| s.winner.is_some()) {
                return Ok(());
            }
            (stored.map_or(0, |s| s.looks), stored.and_then(|s| s.looked_at), t.counted.get(&key).copied())
        };
        let waiting = counted.is_some_and(|(not_before, wake)| now < not_before && wake.is_none_or(|w| now < w));
        if looked_at.is_some_and(|at| now < at + LOOK_EVERY) || waiting {
            return Ok(());
        }
        let goal = &self.defs.config.report.goal;
        let sent = self.store.sent_variants(&c.id, &step.id, test.metric, goal).await?;
        let tallies = tallies(step, &sent, self.defs.config.report.window, now);
        if !decide::ready(&test, &tallies) {
            let wake = sent.iter().map(|s| s.sent_at + AGE).filter(|at| *at > now).min();
            if let Ok(mut t) = self.tests.lock() {
                t.counted.insert(key, (now + COUNT_EVERY, wake));
            }
            return Ok(());
        }
        if let Ok(mut t) = self.tests.lock() {
            t.counted.remove(&key);
        }
        let look = looks + 1;
        // One replica takes each look (the error it spends is spent once).
        if !self.store.take_look(&c.id, &step.id, look, now).await? {
            return self.refresh_tests().await;
        }
        let (chances, won) = decide::look(&test, &tallies, u32::try_from(look).unwrap_or(u32::MAX));
        if let Some(i) = won {
            let v = &step.variants[i];
            let why = figures(step, &tallies, &chances, look, test.metric.as_str());
            if self.store.set_winner(&c.id, &step.id, &v.id, Some(chances[i]), now).await? {
                self.emit(Event::new(now, Ev::Winner).campaign(&c.id).step(&step.id).variant(&v.id).reason(&why));
                self.tell_winner(c, step, &v.id, &why, now).await;
            }
        }
        self.refresh_tests().await
    }

    /// Set a test's winner by hand (`nurture campaigns winner`): later
    /// leads get it whatever the figures say.
    pub async fn set_winner(&self, c: &Campaign, step: &Step, variant: &str, now: DateTime<Utc>) -> Result<()> {
        self.store.set_winner(&c.id, &step.id, variant, None, now).await?;
        let why = "set by hand (nurture campaigns winner)";
        self.emit(Event::new(now, Ev::Winner).campaign(&c.id).step(&step.id).variant(variant).reason(why));
        self.refresh_tests().await
    }

    /// One email to `guardrails.notify`, if set: marketing hears of it.
    async fn tell_winner(&self, c: &Campaign, step: &Step, variant: &str, why: &str, now: DateTime<Utc>) {
        let Some(to) = &self.defs.config.guardrails.notify else { return };
        let message = Outgoing {
            to: to.clone(),
            subject: format!("nurture: variant {variant} won the test of {}/{}", c.id, step.id),
            text: format!(
                "The A/B test of step {} in campaign {} ({}) has a winner at {}: variant {variant}.\n\n{why}\n\n\
                 Every later lead gets variant {variant}; leads sent another one keep it in their history.\n\
                 `nurture report --campaign {}` shows each variant's figures.\n",
                step.id,
                c.id,
                c.name,
                crate::template::context::rfc3339(now),
                c.id
            ),
            ..Default::default()
        };
        self.turn().await;
        if let (Err(e), _) = self.send(&message).await {
            tracing::warn!(to, error = %e, "Could not email the test's winner to guardrails.notify.");
        }
    }
}

/// The figures behind a winner, one line: each variant's hits of sent and
/// chance to be best, and the look.
fn figures(step: &Step, tallies: &[Tally], chances: &[f64], look: i64, metric: &str) -> String {
    let each: Vec<String> = step
        .variants
        .iter()
        .zip(tallies)
        .zip(chances)
        .map(|((v, t), p)| format!("{} {}/{} ({:.1} % best)", v.id, t.hits, t.sent, p * 100.0))
        .collect();
    format!("{metric}: {}; look {look}", each.join(", "))
}
