//! The steps due at `now`, run as a pipeline: batches of due steps are
//! fetched (claimed, on PostgreSQL) while the last leads of the batch
//! before still send, so the send slots do not idle at each batch's tail
//! while the database is asked for the next.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::{Engine, Result};
use crate::store::DueLead;

/// Leads worked on at once per send slot: while some wait for the
/// database, others send.
const LEADS_PER_SLOT: usize = 4;

/// Batches fetched in one tick at most: each step either advances, is
/// pushed past `now`, or ends its enrolment, so the steps drain; the bound
/// guards against a bug turning into a hot loop.
const MAX_BATCHES: usize = 10_000;

/// Due steps fetched (and, on PostgreSQL, leads claimed) per round trip:
/// enough to keep every connection busy, few enough that replicas share
/// (with the next batch fetched early, a replica holds at most this plus
/// the leads in hand).
fn batch(concurrency: usize) -> i64 {
    (concurrency as i64 * 16).clamp(32, 500)
}

/// One lead's due steps, in due order, with the times of its recent
/// marketing emails (the caps' look-back, which follows its own sends).
struct Group {
    steps: Vec<DueLead>,
    sent: Vec<DateTime<Utc>>,
}

type Fetch<'a> = Pin<Box<dyn Future<Output = Result<Vec<Group>>> + Send + 'a>>;

impl Engine {
    /// Leads worked on at once: one when sends are one at a time
    /// (`simulate` then prints a stable order), else several per slot.
    fn lead_parallelism(&self) -> usize {
        if self.concurrency == 1 { 1 } else { self.concurrency * LEADS_PER_SLOT }
    }

    /// Every step due at `now`: leads in parallel, each lead's steps in
    /// due order and never two of one lead at once (the caps must see
    /// each send before the next); sends bounded by the slots. The next
    /// batch is fetched once every lead of the current one has started,
    /// leaving out the leads still in hand. A fetch that finds nothing
    /// while leads are in hand is made once more when they are done (a
    /// step of theirs may have fallen due meanwhile); one that finds
    /// nothing with none in hand ends the run.
    pub(super) async fn run_due(&self, now: DateTime<Utc>) -> Result<()> {
        let campaigns = self.enabled();
        let parallel = self.lead_parallelism();
        let mut queue: VecDeque<Group> = VecDeque::new();
        let mut running = FuturesUnordered::new();
        // Leads queued or running: never fetched again until done.
        let mut in_hand: HashSet<i64> = HashSet::new();
        let mut fetch: Option<Fetch<'_>> = None;
        let (mut fetches, mut done, mut wait_idle) = (0, false, false);
        // Whether the fetch under way left leads out (they were in hand).
        let mut left_out = false;
        let mut failed = None;
        loop {
            while running.len() < parallel
                && let Some(g) = queue.pop_front()
            {
                running.push(self.run_group(g, now));
            }
            let may_fetch = !done && failed.is_none() && !self.is_stopping();
            if may_fetch && fetch.is_none() && queue.is_empty() && (!wait_idle || running.is_empty()) {
                if fetches == MAX_BATCHES {
                    done = true;
                } else {
                    fetches += 1;
                    let keep: Vec<i64> = in_hand.iter().copied().collect();
                    left_out = !keep.is_empty();
                    fetch = Some(Box::pin(self.next_batch(now, &campaigns, keep)));
                }
            }
            tokio::select! {
                Some((lead, result)) = running.next() => {
                    in_hand.remove(&lead);
                    if let Err(e) = result {
                        failed.get_or_insert(e);
                        queue.clear();
                    }
                }
                fetched = async {
                    match fetch.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if fetch.is_some() => {
                    fetch = None;
                    match fetched {
                        Ok(groups) if groups.is_empty() => {
                            // Nothing more, unless a lead in hand has a
                            // step falling due: ask once more when idle.
                            done = !left_out;
                            wait_idle = true;
                        }
                        Ok(groups) => {
                            wait_idle = false;
                            in_hand.extend(groups.iter().map(|g| g.steps[0].lead.id));
                            queue.extend(groups);
                        }
                        Err(e) => {
                            failed.get_or_insert(e);
                        }
                    }
                }
                else => break,
            }
        }
        // Claimed leads go back to the pool whatever happened, so other
        // replicas need not wait for the lease to run out.
        let released = self.store.release_claims().await;
        match failed {
            Some(e) => Err(e),
            None => Ok(released?),
        }
    }

    /// The next batch of due steps, leads in `keep` left out (they are in
    /// hand; this replica's other claims are given up first), grouped by
    /// lead in due order, with the caps' look-back of every lead in one
    /// query. Empty when nothing is due, the mail server is known down
    /// (what is due waits for it, see `mail/health.rs`) or sending is
    /// paused.
    async fn next_batch(&self, now: DateTime<Utc>, campaigns: &[String], keep: Vec<i64>) -> Result<Vec<Group>> {
        if !self.mailer.available().await {
            return Ok(Vec::new());
        }
        // A pause stored meanwhile (a guardrail, another replica, the CLI)
        // holds from the next batch; the database refuses the attempts of
        // this one already.
        self.refresh_pauses().await?;
        if self.sending_paused() {
            return Ok(Vec::new());
        }
        let campaigns: Vec<String> = campaigns.iter().filter(|c| !self.campaign_paused(c)).cloned().collect();
        if campaigns.is_empty() {
            return Ok(Vec::new());
        }
        self.store.release_claims_except(&keep).await?;
        let due = self.store.due(now, &campaigns, batch(self.concurrency), &keep).await?;
        let mut steps: Vec<Vec<DueLead>> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        for d in due {
            match index.get(&d.lead.id) {
                Some(&i) => steps[i].push(d),
                None => {
                    index.insert(d.lead.id, steps.len());
                    steps.push(vec![d]);
                }
            }
        }
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let caps = &self.defs.config.policy.caps;
        let leads: Vec<i64> = steps.iter().map(|g| g[0].lead.id).collect();
        let mut recent = self.store.recent_emails_of(&leads, now - caps.per.max(caps.min_gap)).await?;
        Ok(steps
            .into_iter()
            .map(|s| Group { sent: recent.remove(&s[0].lead.id).unwrap_or_default(), steps: s })
            .collect())
    }

    /// One lead's steps, in order, until one fails or the engine stops;
    /// answers with the lead's id.
    async fn run_group(&self, group: Group, now: DateTime<Utc>) -> (i64, Result<()>) {
        let lead = group.steps[0].lead.id;
        let mut sent = group.sent;
        for d in group.steps {
            if self.is_stopping() {
                break;
            }
            if let Err(e) = self.run_step(d.due, d.lead, d.suppressed, &mut sent, now).await {
                return (lead, Err(e));
            }
        }
        (lead, Ok(()))
    }
}
