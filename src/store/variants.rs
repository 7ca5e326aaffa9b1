//! A/B tests in the database: the sent emails of a tested step with when
//! their lead first did what the test counts (README, *A/B tests*), and
//! each test's state (looks taken, the winner). Replicas share it: a look
//! is taken by one replica (fenced on the look's number), a winner is
//! declared once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::{Run, Sql, placeholders};
use super::{Database, Result};
use crate::abtest::Metric;

/// One sent email of a tested step.
#[derive(Debug, Clone, PartialEq)]
pub struct SentVariant {
    pub variant: String,
    pub sent_at: DateTime<Utc>,
    /// The first time after it that its lead did what the metric counts.
    pub hit_at: Option<DateTime<Utc>>,
}

/// A tested step's stored state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTest {
    pub campaign: String,
    pub step: String,
    pub looks: i64,
    pub looked_at: Option<DateTime<Utc>>,
    pub winner: Option<String>,
    /// The winner's chance to be best when the test declared it; `None`
    /// when set by hand.
    pub chance: Option<f64>,
    pub decided_at: Option<DateTime<Utc>>,
    /// `test` or `hand`.
    pub decided_by: Option<String>,
}

#[async_trait]
pub trait Variants: Send + Sync {
    /// The step's sent emails that went out as a variant, each with its
    /// lead's first `metric` after it (`goal`: the statuses `converted`
    /// counts).
    async fn sent_variants(
        &self,
        campaign: &str,
        step: &str,
        metric: Metric,
        goal: &[String],
    ) -> Result<Vec<SentVariant>>;
    async fn step_tests(&self) -> Result<Vec<StepTest>>;
    /// Record look number `look` at `at`; false if another replica took
    /// it (or a winner is set).
    async fn take_look(&self, campaign: &str, step: &str, look: i64, at: DateTime<Utc>) -> Result<bool>;
    /// Set the winner: by the test (`chance` given) only if none is set;
    /// by hand always. False if the test's winner came too late.
    async fn set_winner(
        &self,
        campaign: &str,
        step: &str,
        winner: &str,
        chance: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<bool>;
}

/// The first time after the email `d` that its lead did what `metric`
/// counts (correlated on `d`; `$3...` the goal statuses).
fn first_hit(metric: Metric, goal: usize) -> String {
    match metric {
        Metric::Replied => "(SELECT MIN(x.at) FROM (SELECT i.received_at AS at FROM inbound i \
             WHERE i.lead_id = d.lead_id AND i.kind = 'reply' AND i.state = 'done' AND i.received_at >= d.updated_at \
             UNION ALL SELECT h.at FROM history h WHERE h.lead_id = d.lead_id AND h.kind = 'replied' \
             AND h.at >= d.updated_at) x)"
            .into(),
        Metric::Clicked => "(SELECT MIN(s.at) FROM signals s WHERE s.delivery_id = d.id AND s.kind = 'click' \
             AND s.machine = '')"
            .into(),
        Metric::Handoff => {
            "(SELECT MIN(h.at) FROM handoffs h WHERE h.lead_id = d.lead_id AND h.at >= d.updated_at)".into()
        }
        Metric::Converted if goal == 0 => "NULL".into(),
        Metric::Converted => format!(
            "(SELECT MIN(h.at) FROM history h WHERE h.lead_id = d.lead_id AND h.kind = 'status' \
             AND h.status IN ({}) AND h.at >= d.updated_at)",
            placeholders(3, goal)
        ),
    }
}

#[async_trait]
impl Variants for Database {
    async fn sent_variants(
        &self,
        campaign: &str,
        step: &str,
        metric: Metric,
        goal: &[String],
    ) -> Result<Vec<SentVariant>> {
        let q = Sql::dynamic(format!(
            "SELECT d.variant, d.updated_at AS sent_at, {} AS hit_at FROM deliveries d \
             WHERE d.campaign = $1 AND d.step_id = $2 AND d.variant <> '' AND d.kind = 'email' AND d.state = 'sent'",
            first_hit(metric, goal.len())
        ))
        .bind(campaign)
        .bind(step);
        let q = if metric == Metric::Converted { q.bind_all(goal.iter().map(|g| g.clone().into())) } else { q };
        let rows = self.conn().await?.fetch_all(q).await?;
        rows.iter()
            .map(|r| {
                Ok(SentVariant { variant: r.get("variant")?, sent_at: r.get("sent_at")?, hit_at: r.get("hit_at")? })
            })
            .collect()
    }

    async fn step_tests(&self) -> Result<Vec<StepTest>> {
        let q = Sql::new(
            "SELECT campaign, step_id, looks, looked_at, winner, chance, decided_at, decided_by FROM step_tests \
             ORDER BY campaign, step_id",
        );
        let rows = self.conn().await?.fetch_all(q).await?;
        rows.iter()
            .map(|r| {
                Ok(StepTest {
                    campaign: r.get("campaign")?,
                    step: r.get("step_id")?,
                    looks: r.get("looks")?,
                    looked_at: r.get("looked_at")?,
                    winner: r.get("winner")?,
                    chance: r.get("chance")?,
                    decided_at: r.get("decided_at")?,
                    decided_by: r.get("decided_by")?,
                })
            })
            .collect()
    }

    async fn take_look(&self, campaign: &str, step: &str, look: i64, at: DateTime<Utc>) -> Result<bool> {
        let q = Sql::new(
            "INSERT INTO step_tests (campaign, step_id, looks, looked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (campaign, step_id) DO UPDATE SET looks = excluded.looks, looked_at = excluded.looked_at \
             WHERE step_tests.winner IS NULL AND step_tests.looks = excluded.looks - 1",
        );
        let q = q.bind(campaign).bind(step).bind(look).bind(at);
        Ok(self.conn().await?.execute(q).await? == 1)
    }

    async fn set_winner(
        &self,
        campaign: &str,
        step: &str,
        winner: &str,
        chance: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let by = if chance.is_some() { "test" } else { "hand" };
        let only_first = if chance.is_some() { "WHERE step_tests.winner IS NULL" } else { "" };
        let q = Sql::dynamic(format!(
            "INSERT INTO step_tests (campaign, step_id, winner, chance, decided_at, decided_by) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (campaign, step_id) DO UPDATE SET winner = excluded.winner, chance = excluded.chance, \
             decided_at = excluded.decided_at, decided_by = excluded.decided_by {only_first}"
        ));
        let q = q.bind(campaign).bind(step).bind(winner).bind(chance).bind(at).bind(by);
        Ok(self.conn().await?.execute(q).await? == 1)
    }
}
