//! What a lead did that may make it ready: clicks on tracked links (a
//! person's or a machine's), answers, events and replies (README,
//! *Readiness and hand-off*), and when its readiness is next looked at.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use serde_json::json;

use super::outbox::{self, About};
use super::sql::{Run, Sql};
use super::{Database, Result, Source};
use crate::links::{ClickToken, DECOY};
use crate::template::context::rfc3339;

/// Clicks of one email this close together are one burst: all of its
/// links hit in one is a scanner's, and a decoy hit marks the burst.
pub const BURST: TimeDelta = TimeDelta::seconds(2);

/// A click on a tracked link, as the HTTP side saw it.
#[derive(Debug, Clone)]
pub struct Click {
    pub token: ClickToken,
    pub at: DateTime<Utc>,
    /// A HEAD request: a machine's, always.
    pub head: bool,
}

/// A signal as stored, for scoring and `explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    pub id: i64,
    pub delivery_id: Option<i64>,
    pub kind: String,
    pub name: String,
    pub link: Option<i64>,
    /// Why a click is a machine's (`head`, `scanner`, `burst`, `decoy`);
    /// empty for a person's.
    pub machine: String,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait Signals: Send + Sync {
    /// Record a click and apply the machine rules (README): a HEAD, a
    /// click within `scanner_window` of its email's sending, every link
    /// of the email within [`BURST`], or a decoy hit within [`BURST`]
    /// either side. The lead's readiness is looked at once the burst is
    /// over. `None`: the email is not (or no longer) known (a forgotten
    /// lead's): nothing is stored. Else the lead's id, and whether the
    /// click is a machine's as far as can be told when it comes.
    async fn record_click(&self, click: &Click, scanner_window: TimeDelta) -> Result<Option<(i64, bool)>>;
    /// [`Signals::record_click`] for each, in order, in one transaction
    /// (the click writer's batches: one commit for many clicks).
    async fn record_clicks(&self, clicks: &[Click], scanner_window: TimeDelta) -> Result<Vec<Option<(i64, bool)>>>;
    /// A lead's signals at or after `since`, oldest first.
    async fn signals(&self, lead_id: i64, since: DateTime<Utc>) -> Result<Vec<Signal>>;
    /// Record an event (`TYPE:NAME`) or a reply; the lead's readiness is
    /// looked at `at`.
    async fn record_signal(&self, lead_id: i64, kind: &str, name: &str, at: DateTime<Utc>) -> Result<()>;
    /// Record an answer given from an email, once per email and answer
    /// (false: given before, nothing stored), with what it sets apart from
    /// a status: the pause (replacing an earlier answer's; `None` lifts
    /// it), the attributes (merged) and the history line, in one
    /// transaction. The lead's readiness is looked at `at`.
    async fn record_answer(&self, a: &AnswerGiven) -> Result<bool>;
    /// Leads whose readiness is to be looked at by `now`, with the time
    /// asked for (to [`Signals::checked`]), oldest first.
    async fn due_checks(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<(i64, DateTime<Utc>)>>;
    /// The check asked for at `at` was made; a later one asked since
    /// stays, and `again` (a click not settled yet) is asked for.
    async fn checked(&self, lead_id: i64, at: DateTime<Utc>, again: Option<DateTime<Utc>>) -> Result<()>;
    /// The earliest readiness check asked for (the daemon wakes for it).
    async fn next_check(&self) -> Result<Option<DateTime<Utc>>>;
    /// When the lead was last handed off: signals before it are spent.
    async fn last_handoff(&self, lead_id: i64) -> Result<Option<DateTime<Utc>>>;
    /// The hand-off, in one transaction (README): the status, conditional
    /// on the lead still having `from` (so two replicas or a retry never
    /// hand over twice), its history, the task, the hand-off record; the
    /// check is cleared. `None`: the status had moved, nothing written.
    async fn hand_off(&self, h: &NewHandoff) -> Result<Option<HandedOff>>;
    /// A hand-off's task not done `after` it was made and not escalated
    /// yet, each marked escalated as it is returned (once, whichever
    /// replica takes it).
    async fn take_overdue_handoffs(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Overdue>>;
    /// When the oldest open hand-off not escalated falls due for it.
    async fn next_escalation(&self, after: TimeDelta) -> Result<Option<DateTime<Utc>>>;
}

/// An answer as [`Signals::record_answer`] stores it.
#[derive(Debug, Clone)]
pub struct AnswerGiven {
    pub lead_id: i64,
    /// `None`: the email is no longer stored.
    pub delivery_id: Option<i64>,
    pub name: String,
    pub pause_until: Option<DateTime<Utc>>,
    pub attributes: std::collections::BTreeMap<String, String>,
    pub at: DateTime<Utc>,
}

/// What a hand-off writes.
#[derive(Debug, Clone)]
pub struct NewHandoff {
    pub lead_id: i64,
    /// The status read with the lead; the hand-off happens only if it
    /// still holds.
    pub from: String,
    pub status: String,
    pub rep: String,
    pub why: String,
    pub score: f64,
    pub task: String,
    pub due_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// The email whose click or answer weighed most.
    pub delivery_id: Option<i64>,
}

/// A hand-off made: its id, its task's, and the deciding email's
/// campaign and step (empty without one).
#[derive(Debug, Clone, PartialEq)]
pub struct HandedOff {
    pub id: i64,
    pub task_id: i64,
    pub campaign: String,
    pub step_id: String,
}

/// A hand-off whose task is overdue for escalation.
#[derive(Debug, Clone, PartialEq)]
pub struct Overdue {
    pub id: i64,
    pub lead_id: i64,
    pub rep: String,
    pub why: String,
    pub at: DateTime<Utc>,
    pub task_id: i64,
}

#[async_trait]
impl Signals for Database {
    async fn record_click(&self, click: &Click, scanner_window: TimeDelta) -> Result<Option<(i64, bool)>> {
        Ok(self.record_clicks(std::slice::from_ref(click), scanner_window).await?.pop().flatten())
    }

    async fn record_clicks(&self, clicks: &[Click], scanner_window: TimeDelta) -> Result<Vec<Option<(i64, bool)>>> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let out = clicks_in(&mut tx, clicks, scanner_window).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn signals(&self, lead_id: i64, since: DateTime<Utc>) -> Result<Vec<Signal>> {
        let q = Sql::new(
            "SELECT id, delivery_id, kind, name, link, machine, at FROM signals \
             WHERE lead_id = $1 AND at >= $2 ORDER BY at, id",
        );
        let rows = self.conn().await?.fetch_all(q.bind(lead_id).bind(since)).await?;
        rows.iter()
            .map(|r| {
                Ok(Signal {
                    id: r.get("id")?,
                    delivery_id: r.get("delivery_id")?,
                    kind: r.get("kind")?,
                    name: r.get("name")?,
                    link: r.get("link")?,
                    machine: r.get("machine")?,
                    at: r.get("at")?,
                })
            })
            .collect()
    }

    async fn record_signal(&self, lead_id: i64, kind: &str, name: &str, at: DateTime<Utc>) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new("INSERT INTO signals (lead_id, kind, name, at) VALUES ($1, $2, $3, $4)");
        tx.execute(q.bind(lead_id).bind(kind).bind(name).bind(at)).await?;
        tx.execute(check(lead_id, at)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_answer(&self, a: &AnswerGiven) -> Result<bool> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new(
            "INSERT INTO signals (lead_id, delivery_id, kind, name, at) VALUES ($1, $2, 'answer', $3, $4) \
             ON CONFLICT (delivery_id, name) WHERE kind = 'answer' DO NOTHING",
        );
        if a.delivery_id.is_none() {
            let again = Sql::new(
                "SELECT 1 AS one FROM signals WHERE lead_id = $1 AND kind = 'answer' AND delivery_id IS NULL \
                 AND name = $2",
            );
            if tx.fetch_optional(again.bind(a.lead_id).bind(&a.name)).await?.is_some() {
                return Ok(false);
            }
        }
        if tx.execute(q.bind(a.lead_id).bind(a.delivery_id).bind(&a.name).bind(a.at)).await? == 0 {
            return Ok(false);
        }
        let q = Sql::new("SELECT attributes FROM leads WHERE id = $1").bind(a.lead_id);
        let stored: String = tx.fetch_one(q).await?.get("attributes")?;
        let mut attributes: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&stored).unwrap_or_default();
        attributes.extend(a.attributes.clone());
        let attributes = serde_json::to_string(&attributes).unwrap_or(stored);
        let q = Sql::new("UPDATE leads SET paused_until = $2, attributes = $3, updated_at = $4 WHERE id = $1");
        tx.execute(q.bind(a.lead_id).bind(a.pause_until).bind(attributes).bind(a.at)).await?;
        tx.execute(super::leads::event(a.lead_id, a.at, "answered", &a.name, None, Source::Link)).await?;
        if let Some(until) = a.pause_until {
            let data = json!({ "until": rfc3339(until), "why": format!("answered {:?}", a.name) });
            outbox::record(&mut tx, "lead.paused", About::Lead(a.lead_id), data, a.at).await?;
        }
        tx.execute(check(a.lead_id, a.at)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn due_checks(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<(i64, DateTime<Utc>)>> {
        let q = Sql::new(
            "SELECT lead_id, check_at FROM readiness_checks WHERE check_at <= $1 ORDER BY check_at, lead_id LIMIT $2",
        );
        let rows = self.conn().await?.fetch_all(q.bind(now).bind(limit)).await?;
        rows.iter().map(|r| Ok((r.get("lead_id")?, r.get("check_at")?))).collect()
    }

    async fn checked(&self, lead_id: i64, at: DateTime<Utc>, again: Option<DateTime<Utc>>) -> Result<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new("DELETE FROM readiness_checks WHERE lead_id = $1 AND check_at <= $2");
        tx.execute(q.bind(lead_id).bind(at)).await?;
        if let Some(again) = again {
            tx.execute(check(lead_id, again)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn next_check(&self) -> Result<Option<DateTime<Utc>>> {
        let q = Sql::new("SELECT MIN(check_at) AS t FROM readiness_checks");
        self.conn().await?.fetch_one(q).await?.get("t")
    }

    async fn last_handoff(&self, lead_id: i64) -> Result<Option<DateTime<Utc>>> {
        let q = Sql::new("SELECT MAX(at) AS t FROM handoffs WHERE lead_id = $1").bind(lead_id);
        self.conn().await?.fetch_one(q).await?.get("t")
    }

    async fn hand_off(&self, h: &NewHandoff) -> Result<Option<HandedOff>> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().await?;
        let q = Sql::new(
            "UPDATE leads SET status = $3, known_status = $3, status_changed_at = $4, updated_at = $4 \
             WHERE id = $1 AND status = $2 AND status <> $3",
        );
        if tx.execute(q.bind(h.lead_id).bind(&h.from).bind(&h.status).bind(h.at)).await? == 0 {
            return Ok(None);
        }
        let (campaign, step_id) = match h.delivery_id {
            Some(d) => {
                let q = Sql::new("SELECT campaign, step_id FROM deliveries WHERE id = $1").bind(d);
                match tx.fetch_optional(q).await? {
                    Some(r) => (r.get("campaign")?, r.get("step_id")?),
                    None => (String::new(), String::new()),
                }
            }
            None => (String::new(), String::new()),
        };
        let status = super::leads::status_event(h.lead_id, h.at, Some(&h.from), &h.status, None, Source::Engine);
        tx.execute(status).await?;
        tx.execute(super::leads::event(h.lead_id, h.at, "handoff", &h.why, None, Source::Engine)).await?;
        let task = Sql::new(
            "INSERT INTO tasks (lead_id, campaign, step_id, rep, text, due_at, created_at) \
             VALUES ($1, $2, 'handoff', $3, $4, $5, $6) RETURNING id",
        );
        let task = task.bind(h.lead_id).bind(&campaign).bind(&h.rep).bind(&h.task).bind(h.due_at).bind(h.at);
        let task_id: i64 = tx.fetch_one(task).await?.get("id")?;
        let q = Sql::new(
            "INSERT INTO handoffs (lead_id, at, rep, why, score, task_id, delivery_id, campaign, step_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        );
        let q = q.bind(h.lead_id).bind(h.at).bind(&h.rep).bind(&h.why).bind(h.score).bind(task_id);
        let q = q.bind(h.delivery_id).bind(non_empty(&campaign)).bind(non_empty(&step_id));
        let id: i64 = tx.fetch_one(q).await?.get("id")?;
        tx.execute(Sql::new("DELETE FROM readiness_checks WHERE lead_id = $1").bind(h.lead_id)).await?;
        let lead = About::Lead(h.lead_id);
        let status = json!({ "from": h.from, "to": h.status, "reason": null, "source": "engine" });
        outbox::record(&mut tx, "lead.status", lead, status, h.at).await?;
        let ready = json!({
            "why": h.why, "score": h.score, "rep": h.rep, "task_id": task_id, "due_at": rfc3339(h.due_at),
            "campaign": non_empty(&campaign), "step": non_empty(&step_id),
        });
        outbox::record(&mut tx, "lead.ready", About::Lead(h.lead_id), ready, h.at).await?;
        let task =
            json!({ "task_id": task_id, "rep": h.rep, "text": h.task, "due_at": rfc3339(h.due_at), "handoff": true });
        outbox::record(&mut tx, "task.created", About::Lead(h.lead_id), task, h.at).await?;
        tx.commit().await?;
        Ok(Some(HandedOff { id, task_id, campaign, step_id }))
    }

    async fn take_overdue_handoffs(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Overdue>> {
        let q = Sql::dynamic(format!(
            "SELECT h.id, h.lead_id, h.rep, h.why, h.at, h.task_id {OPEN_HANDOFFS} AND h.at <= $1 ORDER BY h.at LIMIT 100"
        ));
        let mut c = self.conn().await?;
        let rows = c.fetch_all(q.bind(before)).await?;
        let mut taken = Vec::new();
        for r in &rows {
            let id: i64 = r.get("id")?;
            let mark = Sql::new("UPDATE handoffs SET escalated_at = $2 WHERE id = $1 AND escalated_at IS NULL");
            if c.execute(mark.bind(id).bind(now)).await? == 1 {
                taken.push(Overdue {
                    id,
                    lead_id: r.get("lead_id")?,
                    rep: r.get("rep")?,
                    why: r.get("why")?,
                    at: r.get("at")?,
                    task_id: r.get("task_id")?,
                });
            }
        }
        Ok(taken)
    }

    async fn next_escalation(&self, after: TimeDelta) -> Result<Option<DateTime<Utc>>> {
        let q = Sql::dynamic(format!("SELECT MIN(h.at) AS t {OPEN_HANDOFFS}"));
        let oldest: Option<DateTime<Utc>> = self.conn().await?.fetch_one(q).await?.get("t")?;
        Ok(oldest.map(|t| t + after))
    }
}

/// A click of a batch, as the machine rules see it.
struct Seen {
    at: DateTime<Utc>,
    machine: String,
}

/// Links of one email looked at by the burst rule at most (a token says
/// how many its email has; ours never have this many).
const MAX_LINKS: i64 = 200;

/// Clicks inside the caller's transaction, in order, as if recorded one
/// by one (see [`Signals::record_click`]), with a few statements per email
/// rather than per click: each link's latest click is read once per email,
/// the rules applied in memory, the new clicks inserted together, clicks
/// stored before marked by a burst or decoy with one update, each lead's
/// check asked for once.
async fn clicks_in(tx: &mut impl Run, clicks: &[Click], scanner_window: TimeDelta) -> Result<Vec<Option<(i64, bool)>>> {
    let mut out: Vec<Option<(i64, bool)>> = vec![None; clicks.len()];
    let mut deliveries: Vec<i64> = clicks.iter().map(|c| c.token.delivery_id).collect();
    deliveries.sort_unstable();
    deliveries.dedup();
    let mut checks: std::collections::BTreeMap<i64, DateTime<Utc>> = std::collections::BTreeMap::new();
    for delivery_id in deliveries {
        let mine: Vec<usize> = (0..clicks.len()).filter(|i| clicks[*i].token.delivery_id == delivery_id).collect();
        let q = Sql::new("SELECT lead_id, created_at FROM deliveries WHERE id = $1").bind(delivery_id);
        let Some(row) = tx.fetch_optional(q).await? else { continue };
        let lead_id: i64 = row.get("lead_id")?;
        let sent: DateTime<Utc> = row.get("created_at")?;
        // Each link's (and the decoy's) latest click: one index seek each,
        // in one statement, however often the link was clicked before.
        let links = mine.iter().map(|i| clicks[*i].token.links).max().unwrap_or(0).clamp(0, MAX_LINKS);
        let latest_of = (-1..links)
            .map(|l| format!("SELECT CAST({l} AS BIGINT) AS link, (SELECT MAX(at) FROM signals WHERE delivery_id = $1 AND link = {l} AND kind = 'click') AS at"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut latest: std::collections::HashMap<i64, DateTime<Utc>> = std::collections::HashMap::new();
        for r in tx.fetch_all(Sql::dynamic(latest_of).bind(delivery_id)).await? {
            if let Some(at) = r.get::<Option<DateTime<Utc>>>("at")? {
                latest.insert(r.get("link")?, at);
            }
        }
        let mut seen: Vec<Seen> = Vec::new();
        let mut marks: Vec<(&'static str, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for i in &mine {
            let (click, t) = (&clicks[*i], &clicks[*i].token);
            let (from, to) = (click.at - BURST, click.at + BURST);
            let decoy_near = latest.get(&DECOY).is_some_and(|at| *at >= from);
            let machine = if click.head {
                "head"
            } else if t.link == DECOY || decoy_near {
                "decoy"
            } else if click.at - sent < scanner_window {
                "scanner"
            } else {
                ""
            };
            seen.push(Seen { at: click.at, machine: machine.into() });
            let last = latest.entry(t.link).or_insert(click.at);
            *last = (*last).max(click.at);
            let mut mark = |why: &'static str, seen: &mut Vec<Seen>| {
                for s in seen.iter_mut().filter(|s| s.machine.is_empty() && s.at >= from && s.at <= to) {
                    s.machine = why.into();
                }
                marks.push((why, from, to));
            };
            if t.link == DECOY {
                mark("decoy", &mut seen);
            } else if machine.is_empty()
                && t.links >= 2
                && (0..t.links).all(|l| latest.get(&l).is_some_and(|at| *at >= from))
            {
                mark("burst", &mut seen);
            }
            out[*i] = Some((lead_id, !machine.is_empty() || t.link == DECOY));
            let check = checks.entry(lead_id).or_insert(to);
            *check = (*check).max(to);
        }
        // Clicks stored before this batch that a burst or decoy marks (before
        // the insert: the batch's own clicks carry their marks already, as
        // if each had been recorded on its own).
        for (why, from, to) in marks {
            let q = Sql::new(
                "UPDATE signals SET machine = $4 WHERE delivery_id = $1 AND kind = 'click' AND machine = '' \
                 AND at >= $2 AND at <= $3",
            );
            tx.execute(q.bind(delivery_id).bind(from).bind(to).bind(why)).await?;
        }
        // The new clicks, with their machine marks as they stand now.
        for (chunk_at, chunk) in mine.chunks(100).enumerate() {
            let rows = crate::store::sql::value_rows(1, chunk.len(), 7, ", 'click'");
            let mut q = Sql::dynamic(format!(
                "INSERT INTO signals (lead_id, delivery_id, name, link, links, machine, at, kind) VALUES {rows}"
            ));
            for (k, i) in chunk.iter().enumerate() {
                let t = &clicks[*i].token;
                let machine = seen[chunk_at * 100 + k].machine.clone();
                q = q.bind(lead_id).bind(delivery_id).bind(&t.url).bind(t.link).bind(t.links).bind(machine);
                q = q.bind(clicks[*i].at);
            }
            tx.execute(q).await?;
        }
    }
    for (lead_id, at) in checks {
        tx.execute(check(lead_id, at)).await?;
    }
    Ok(out)
}

/// Hand-offs not escalated whose task is open.
const OPEN_HANDOFFS: &str =
    "FROM handoffs h JOIN tasks t ON t.id = h.task_id WHERE h.escalated_at IS NULL AND t.done_at IS NULL";

/// Look at the lead's readiness at `at` (an earlier check asked for
/// stays: the earliest wins).
pub(super) fn check(lead_id: i64, at: DateTime<Utc>) -> Sql {
    Sql::new(
        "INSERT INTO readiness_checks (lead_id, check_at) VALUES ($1, $2) \
         ON CONFLICT (lead_id) DO UPDATE SET check_at = CASE WHEN excluded.check_at < readiness_checks.check_at \
         THEN excluded.check_at ELSE readiness_checks.check_at END",
    )
    .bind(lead_id)
    .bind(at)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
