//! Deliveries: one step carried out for one enrolment, recorded before it
//! is attempted and again with its outcome (the contact history). Attempts
//! and outcomes of concurrent steps are written in groups, one transaction
//! per group (see `engine/group.rs`).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::enrolments::{Due, Next};
use super::inbound::Inbox;
use super::leads::Leads;
use super::sql::{Run, Sql, placeholders, value_rows};
use super::{Database, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Email,
    Task,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Task => "task",
        }
    }
}

/// Final states of a step (README, *Behaviour decisions*), plus `Sending`
/// while in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Sending,
    Sent,
    Failed,
    Bounced,
    Suppressed,
    Uncertain,
    Cancelled,
}

impl State {
    pub const FINAL: [State; 6] =
        [State::Sent, State::Failed, State::Bounced, State::Suppressed, State::Uncertain, State::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Sending => "sending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Bounced => "bounced",
            State::Suppressed => "suppressed",
            State::Uncertain => "uncertain",
            State::Cancelled => "cancelled",
        }
    }
}

/// One step's outcome to record, and what follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// `None`: found attempted before; only a `sending` record is settled.
    pub delivery_id: Option<i64>,
    pub due: Due,
    pub outcome: Outcome,
    pub next: Next,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: State,
    pub reason: String,
    pub subject: String,
    pub at: DateTime<Utc>,
    /// The Message-ID the email carried (empty: none was sent).
    pub message_id: String,
    /// The variant the email went out as (empty: its step has none).
    pub variant: String,
}

/// One past touch of a lead (a delivery not cancelled), newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub at: DateTime<Utc>,
    pub campaign: String,
    pub step: String,
    pub kind: String,
    pub state: String,
    /// Who made it, for a lead's recorded events (`csv`, `api`, `cli`,
    /// `crm`, `link`, `inbound`, `engine`); empty for our deliveries.
    pub source: String,
    /// The A/B variant an email went out as; empty otherwise.
    pub variant: String,
}

impl From<&super::Handled> for Touch {
    /// A handled inbound message as a history line: its kind, and what it
    /// said or did (`replied`, `away until …`, `hard bounce: …`).
    fn from(h: &super::Handled) -> Touch {
        let state = match h.kind.as_str() {
            "reply" => "replied".to_string(),
            "auto_reply" => match h.until {
                Some(t) => format!("away until {}", t.format("%Y-%m-%d")),
                None => "automatic reply".into(),
            },
            "bounce" => format!("{} bounce", h.severity),
            "complaint" => "marked as spam".into(),
            other => other.to_string(),
        };
        Touch {
            at: h.at,
            campaign: h.campaign.clone().unwrap_or_default(),
            step: h.step_id.clone().unwrap_or_default(),
            kind: h.kind.clone(),
            state,
            source: "inbound".into(),
            variant: String::new(),
        }
    }
}

#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Record an attempt before acting: (delivery id, attempt number), or
    /// `None` if this step of this enrolment was attempted before and is
    /// not waiting for a retry (it must not be repeated), or its campaign
    /// (or all sending) is paused.
    async fn begin_delivery(&self, due: &Due, kind: Kind, now: DateTime<Utc>) -> Result<Option<(i64, i64)>> {
        Ok(self.record_steps(&[], &[(due.clone(), kind, now)]).await?.pop().flatten())
    }
    /// What concurrent steps have to write, in one transaction: the
    /// outcomes of those that were sent (three statements at most), then
    /// the attempts of those about to be (one statement, each at its own
    /// time); answers for the attempts in the order asked. One commit for
    /// a whole group of send slots: on SQLite one set of WAL frames
    /// instead of one per statement, on PostgreSQL one flush to disk.
    async fn record_steps(
        &self,
        finishes: &[Finish],
        begins: &[(Due, Kind, DateTime<Utc>)],
    ) -> Result<Vec<Option<(i64, i64)>>>;
    /// A temporary failure: the delivery waits as `retrying` and the
    /// enrolment is due again at `at`.
    async fn retry_later(&self, delivery_id: i64, due: &Due, reason: &str, at: DateTime<Utc>) -> Result<()>;
    /// Times of marketing emails (sent, being sent or uncertain) to each of
    /// these leads since `since`, in one query.
    async fn recent_emails_of(
        &self,
        lead_ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<HashMap<i64, Vec<DateTime<Utc>>>>;
    /// The lead's last `limit` touches, newest first.
    async fn history(&self, lead_id: i64, limit: i64) -> Result<Vec<Touch>>;
    /// A campaign's marketing emails (sent, bounced) finished since `since`.
    async fn email_outcomes(&self, campaign: &str, since: DateTime<Utc>) -> Result<(i64, i64)>;
    /// The subject a delivery was sent with, if it is still known.
    async fn delivery_subject(&self, delivery_id: i64) -> Result<Option<String>>;
    /// The lead's last email sent at or before `at` (`simulate --events`
    /// clicks and answers on it).
    async fn last_email(&self, lead_id: i64, at: DateTime<Utc>) -> Result<Option<i64>>;
}

#[async_trait]
impl Deliveries for Database {
    async fn record_steps(
        &self,
        finishes: &[Finish],
        begins: &[(Due, Kind, DateTime<Utc>)],
    ) -> Result<Vec<Option<(i64, i64)>>> {
        let pg = self.postgres().is_some();
        let mut found: HashMap<i64, (i64, i64)> = HashMap::new();
        let mut c = self.step_conn().await?;
        // A group is a send slot's worth per slot: one script almost
        // always; larger ones in parts of `PART`, each atomic.
        const PART: usize = 200;
        let parts = finishes.len().div_ceil(PART).max(begins.len().div_ceil(PART));
        for i in 0..parts {
            let f = finishes.get(i * PART..finishes.len().min((i + 1) * PART)).unwrap_or_default();
            let b = begins.get(i * PART..begins.len().min((i + 1) * PART)).unwrap_or_default();
            let mut script = Script::default();
            finish(&mut script, f);
            begin(&mut script, b);
            let rows = match script.run(&mut c, pg).await {
                Ok(rows) => rows,
                Err(e) => {
                    if !pg {
                        // The script stopped midway: its transaction is
                        // still open on the one connection.
                        let _ = c.execute(Sql::new("ROLLBACK")).await;
                    }
                    return Err(e);
                }
            };
            for r in rows {
                let attempts: i32 = r.get("attempts")?;
                found.insert(r.get("enrolment_id")?, (r.get("id")?, attempts.into()));
            }
        }
        Ok(begins.iter().map(|(due, _, _)| found.get(&due.enrolment_id).copied()).collect())
    }

    async fn retry_later(&self, delivery_id: i64, due: &Due, reason: &str, at: DateTime<Utc>) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let waiting = Sql::new("UPDATE deliveries SET state = 'retrying', reason = $2 WHERE id = $1");
        tx.execute(waiting.bind(delivery_id).bind(reason)).await?;
        let again = Sql::new("UPDATE enrolments SET due_at = $2 WHERE id = $1 AND active AND step_id = $3");
        tx.execute(again.bind(due.enrolment_id).bind(at).bind(&due.step_id)).await?;
        tx.commit().await
    }

    async fn recent_emails_of(
        &self,
        lead_ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<HashMap<i64, Vec<DateTime<Utc>>>> {
        let mut out: HashMap<i64, Vec<DateTime<Utc>>> = lead_ids.iter().map(|id| (*id, Vec::new())).collect();
        for chunk in lead_ids.chunks(1000) {
            let sql = format!(
                "SELECT lead_id, updated_at FROM deliveries WHERE lead_id IN ({}) AND kind = 'email' \
                 AND state IN ('sent', 'sending', 'uncertain') AND updated_at >= $1",
                placeholders(2, chunk.len())
            );
            let q = Sql::dynamic(sql).bind(since).bind_all(chunk.iter().map(|id| (*id).into()));
            for r in self.conn().await?.fetch_all(q).await? {
                out.entry(r.get("lead_id")?).or_default().push(r.get("updated_at")?);
            }
        }
        Ok(out)
    }

    async fn email_outcomes(&self, campaign: &str, since: DateTime<Utc>) -> Result<(i64, i64)> {
        let q = Sql::new(
            "SELECT state, COUNT(*) AS n FROM deliveries WHERE updated_at >= $2 AND campaign = $1 \
             AND kind = 'email' AND state IN ('sent', 'bounced') GROUP BY state",
        );
        let (mut sent, mut bounced) = (0, 0);
        for r in self.conn().await?.fetch_all(q.bind(campaign).bind(since)).await? {
            let n: i64 = r.get("n")?;
            match r.get::<String>("state")?.as_str() {
                "sent" => sent = n,
                _ => bounced = n,
            }
        }
        Ok((sent, bounced))
    }

    async fn delivery_subject(&self, delivery_id: i64) -> Result<Option<String>> {
        let q = Sql::new("SELECT subject FROM deliveries WHERE id = $1").bind(delivery_id);
        self.conn().await?.fetch_optional(q).await?.map(|r| r.get("subject")).transpose()
    }

    async fn last_email(&self, lead_id: i64, at: DateTime<Utc>) -> Result<Option<i64>> {
        let q = Sql::new(
            "SELECT id FROM deliveries WHERE lead_id = $1 AND kind = 'email' AND state = 'sent' AND updated_at <= $2 \
             ORDER BY updated_at DESC, id DESC LIMIT 1",
        );
        self.conn().await?.fetch_optional(q.bind(lead_id).bind(at)).await?.map(|r| r.get("id")).transpose()
    }

    async fn history(&self, lead_id: i64, limit: i64) -> Result<Vec<Touch>> {
        let q = Sql::new(
            "SELECT updated_at, campaign, step_id, kind, state, variant FROM deliveries \
             WHERE lead_id = $1 AND state <> 'cancelled' ORDER BY updated_at DESC, id DESC LIMIT $2",
        );
        let rows = self.conn().await?.fetch_all(q.bind(lead_id).bind(limit)).await?;
        let mut touches = rows
            .iter()
            .map(|r| {
                Ok(Touch {
                    at: r.get("updated_at")?,
                    campaign: r.get("campaign")?,
                    step: r.get("step_id")?,
                    kind: r.get("kind")?,
                    state: r.get("state")?,
                    source: String::new(),
                    variant: r.get("variant")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The lead's side of the story: replies, out-of-office notes,
        // bounces and complaints; and what people changed: status,
        // suppression, tasks done; all among our emails by time.
        touches.extend(self.inbound_history(lead_id, limit).await?.iter().map(Touch::from));
        touches.extend(self.lead_events(lead_id, limit).await?.into_iter().map(|e| Touch {
            at: e.at,
            campaign: String::new(),
            step: String::new(),
            kind: e.kind,
            state: e.detail,
            source: e.source,
            variant: String::new(),
        }));
        touches.sort_by_key(|t| std::cmp::Reverse(t.at));
        touches.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(touches)
    }
}

/// The statements of one group, numbered through: run as one script on
/// SQLite (one call to its thread, one transaction), as one statement of
/// data-modifying CTEs on PostgreSQL (one round trip, one commit).
#[derive(Default)]
struct Script {
    updates: Vec<String>,
    insert: Option<String>,
    args: Vec<super::sql::Arg>,
}

impl Script {
    /// The next placeholder's number.
    fn next(&self) -> usize {
        self.args.len() + 1
    }

    fn bind(&mut self, value: impl Into<super::sql::Arg>) {
        self.args.push(value.into());
    }

    /// Rows the insert returns, if there is one.
    async fn run(self, c: &mut impl Run, pg: bool) -> Result<Vec<super::sql::Row>> {
        if self.updates.is_empty() && self.insert.is_none() {
            return Ok(Vec::new());
        }
        let text = if pg {
            // Every statement in WITH runs to completion whether or not
            // the main one reads it; they touch distinct rows.
            let with: Vec<String> = self.updates.iter().enumerate().map(|(i, u)| format!("u{i} AS ({u})")).collect();
            // Outcomes alone commit without waiting for the disk: one lost
            // to a database crash leaves its step `sending`, recorded
            // `uncertain` later, never resent. Attempts always wait.
            let main = self.insert.unwrap_or_else(|| "SELECT set_config('synchronous_commit', 'off', true)".into());
            if with.is_empty() { main } else { format!("WITH {} {main}", with.join(", ")) }
        } else {
            let mut all = vec!["BEGIN IMMEDIATE".to_string()];
            all.extend(self.updates);
            all.extend(self.insert);
            all.push("COMMIT".into());
            all.join(";\n")
        };
        let q = Sql::dynamic(text).bind_all(self.args);
        let rows = c.fetch_all(q).await?;
        Ok(rows.into_iter().filter(|r| r.get::<i64>("enrolment_id").is_ok()).collect())
    }
}

/// Attempts: insert, or take over a row waiting for its retry; a row in
/// any other state means "attempted before".
fn begin(s: &mut Script, steps: &[(Due, Kind, DateTime<Utc>)]) {
    if steps.is_empty() {
        return;
    }
    // A paused campaign (or all sending) records no attempt: the pause
    // and the attempt are judged in one statement, so no replica attempts
    // anything once a pause is stored.
    s.insert = Some(format!(
        "INSERT INTO deliveries (enrolment_id, lead_id, campaign, step_id, kind, state, attempts, \
         created_at, updated_at) SELECT v.column1, v.column2, v.column3, v.column4, v.column5, \
         'sending', 1, v.column6, v.column6 FROM (VALUES {}) AS v \
         WHERE NOT EXISTS (SELECT 1 FROM pauses p WHERE p.scope IN ('all', v.column3)) \
         ON CONFLICT (enrolment_id, step_id) DO UPDATE SET state = 'sending', \
         attempts = deliveries.attempts + 1, updated_at = excluded.updated_at \
         WHERE deliveries.state = 'retrying' RETURNING enrolment_id, id, attempts",
        value_rows(s.next(), steps.len(), 6, "")
    ));
    for (due, kind, now) in steps {
        s.bind(due.enrolment_id);
        s.bind(due.lead_id);
        s.bind(&due.campaign);
        s.bind(&due.step_id);
        s.bind(kind.as_str());
        s.bind(*now);
    }
}

/// Outcomes: deliveries, then their enrolments.
fn finish(s: &mut Script, steps: &[Finish]) {
    let (known, found_before): (Vec<&Finish>, Vec<&Finish>) = steps.iter().partition(|f| f.delivery_id.is_some());
    if !known.is_empty() {
        s.updates.push(format!(
            "UPDATE deliveries SET state = v.column2, reason = v.column3, subject = v.column4, \
             updated_at = v.column5, message_id = v.column6, variant = v.column7 \
             FROM (VALUES {}) AS v WHERE deliveries.id = v.column1",
            value_rows(s.next(), known.len(), 7, "")
        ));
        for f in known {
            let o = &f.outcome;
            s.bind(f.delivery_id);
            s.bind(o.state.as_str());
            s.bind(&o.reason);
            s.bind(&o.subject);
            s.bind(o.at);
            s.bind(&o.message_id);
            s.bind(&o.variant);
        }
    }
    // Found attempted before: an attempt cut off mid-send becomes the
    // outcome given (uncertain); a finished one stays.
    for f in found_before {
        let n = s.next();
        s.updates.push(format!(
            "UPDATE deliveries SET state = ${}, reason = ${}, updated_at = ${} \
             WHERE enrolment_id = ${n} AND step_id = ${} AND state = 'sending'",
            n + 2,
            n + 3,
            n + 4,
            n + 1
        ));
        let o = &f.outcome;
        s.bind(f.due.enrolment_id);
        s.bind(&f.due.step_id);
        s.bind(o.state.as_str());
        s.bind(&o.reason);
        s.bind(o.at);
    }
    if steps.is_empty() {
        return;
    }
    // Fenced on the step: a replica that lost its claim (its lease ran
    // out mid-send) cannot move an enrolment that another one already
    // moved.
    s.updates.push(format!(
        "UPDATE enrolments SET last_step_id = enrolments.step_id, step_id = v.column2, \
         due_at = v.column3, active = v.column4, ended_at = v.column5, end_reason = v.column6 \
         FROM (VALUES {}) AS v \
         WHERE enrolments.id = v.column1 AND enrolments.active AND enrolments.step_id = v.column7",
        value_rows(s.next(), steps.len(), 7, "")
    ));
    for f in steps {
        let (step, due_at, active, ended_at, reason) = match &f.next {
            Next::Step { step_id, due_at } => (Some(step_id.clone()), Some(*due_at), true, None, None),
            Next::Done => (None, None, false, Some(f.outcome.at), Some("completed")),
        };
        s.bind(f.due.enrolment_id);
        s.bind(step);
        s.bind(due_at);
        s.bind(active);
        s.bind(ended_at);
        s.bind(reason);
        s.bind(&f.due.step_id);
    }
}
