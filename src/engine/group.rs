//! Group commit with send slots: concurrent callers of one store write
//! share transactions, and the writer admits attempts to the send slots.
//! The caller that finds the writer free writes everything queued so far
//! that may go; those who queued meanwhile find their answers written by
//! it (or write the next group themselves). One caller alone writes alone,
//! so `simulate` issues exactly the statements it did before.
//!
//! Why here: with `mail.pool_size` sends in flight, recording each attempt
//! and outcome on its own costs a round trip per message per statement,
//! and the database (not SMTP) becomes the limit.
//!
//! The slots (`mail.pool_size` of them) bound the steps recorded `sending`
//! without an outcome, the bound on `uncertain` after a crash. They are
//! counted here rather than by a semaphore held from attempt to outcome
//! because a slot then passes from one step to the next inside one
//! transaction: the outcome that frees it and the attempt that takes it
//! commit together (or the outcome first), so the bound holds at every
//! commit, and a send slot's cycle costs one write instead of two.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::{Notify, oneshot};

type Reply<R> = oneshot::Sender<Result<R, Refused>>;

/// What an item does to the send slots once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// An attempt: it waits for a free slot, and holds it if its answer
    /// says it was recorded (see `held`).
    Takes,
    /// An outcome of an attempt that held a slot: it frees it.
    Frees,
    Neutral,
}

pub trait Item {
    fn slot(&self) -> Slot;
}

/// Why an item was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// An attempt waiting for a slot: the engine stopped.
    #[error("the engine stopped before a send slot came free")]
    Stopped,
    /// The group's write failed (every item in it), or the group broke.
    #[error("{0}")]
    Failed(String),
}

struct Queue<Q, R> {
    items: Vec<(Q, Reply<R>)>,
    /// Slots held: attempts recorded whose outcome is not yet.
    held: usize,
    /// Once the engine stops, attempts still waiting are answered
    /// [`Refused::Stopped`] and none is admitted.
    closed: bool,
}

pub struct Group<Q, R> {
    queue: Mutex<Queue<Q, R>>,
    writer: tokio::sync::Mutex<()>,
    slots: usize,
    /// Whether an attempt's answer means it holds its slot.
    holds: fn(&R) -> bool,
    freed: Notify,
}

impl<Q: Item + Send, R: Send> Group<Q, R> {
    pub fn new(slots: usize, holds: fn(&R) -> bool) -> Group<Q, R> {
        Group {
            queue: Mutex::new(Queue { items: Vec::new(), held: 0, closed: false }),
            writer: tokio::sync::Mutex::new(()),
            slots: slots.max(1),
            holds,
            freed: Notify::new(),
        }
    }

    /// A slot given back without an outcome written through the group (a
    /// retry scheduled, an outcome given up on).
    pub fn release(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.held = q.held.saturating_sub(1);
        }
        self.freed.notify_waiters();
    }

    /// Answer every attempt still waiting for a slot with [`Refused::Stopped`], and
    /// every later one at once.
    pub fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.closed = true;
            let (waiting, rest): (Vec<_>, Vec<_>) = q.items.drain(..).partition(|(i, _)| i.slot() == Slot::Takes);
            q.items = rest;
            for (_, reply) in waiting {
                let _ = reply.send(Err(Refused::Stopped));
            }
        }
        self.freed.notify_waiters();
    }

    /// Slots held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.queue.lock().map(|q| q.held).unwrap_or(0)
    }

    /// Queue `item` and return its answer; `write` answers a whole group,
    /// in order, or fails it as one.
    pub async fn call<F, Fut>(&self, item: Q, write: F) -> Result<R, Refused>
    where
        F: Fn(Vec<Q>) -> Fut,
        Fut: Future<Output = Result<Vec<R>, String>>,
    {
        let (tx, mut rx) = oneshot::channel();
        {
            let mut q = self.queue.lock().map_err(|e| Refused::Failed(e.to_string()))?;
            if q.closed && item.slot() == Slot::Takes {
                return Err(Refused::Stopped);
            }
            q.items.push((item, tx));
        }
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            // Wait for the answer or the writer, whichever comes first: a
            // caller whose item another writer took leaves the line at
            // once instead of taking the writer in turn (each would then
            // write what queued meanwhile, and every caller pay for two
            // writes).
            let _writing = tokio::select! {
                biased;
                answer = &mut rx => return answer.map_err(|_| Refused::Failed("group write dropped".into()))?,
                writing = self.writer.lock() => writing,
            };
            let (items, replies, frees) = self.admit()?;
            if items.is_empty() {
                // Our attempt waits for a slot: an outcome frees one.
                drop(_writing);
                freed.await;
                continue;
            }
            let takes: Vec<bool> = items.iter().map(|i| i.slot() == Slot::Takes).collect();
            match write(items).await {
                Ok(answers) => {
                    let taken = answers.iter().zip(&takes).filter(|(a, t)| **t && (self.holds)(a)).count();
                    if let Ok(mut q) = self.queue.lock() {
                        q.held = (q.held + taken).saturating_sub(frees);
                    }
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(Refused::Failed(e.clone())));
                    }
                }
            }
            self.freed.notify_waiters();
        }
    }

    /// What the next write takes: every outcome and neutral item, and the
    /// attempts, in queue order, that the slots have room for once this
    /// group's outcomes are written; the rest wait.
    #[allow(clippy::type_complexity)]
    fn admit(&self) -> Result<(Vec<Q>, Vec<Reply<R>>, usize), Refused> {
        let mut q = self.queue.lock().map_err(|e| Refused::Failed(e.to_string()))?;
        let frees = q.items.iter().filter(|(i, _)| i.slot() == Slot::Frees).count();
        let mut room = (self.slots + frees).saturating_sub(q.held);
        let (mut items, mut replies, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
        for (item, reply) in q.items.drain(..) {
            match item.slot() {
                Slot::Takes if room == 0 => waiting.push((item, reply)),
                slot => {
                    if slot == Slot::Takes {
                        room -= 1;
                    }
                    items.push(item);
                    replies.push(reply);
                }
            }
        }
        q.items = waiting;
        Ok((items, replies, frees))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum W {
        Begin(u32),
        End(u32),
        Other(u32),
    }

    impl Item for W {
        fn slot(&self) -> Slot {
            match self {
                W::Begin(_) => Slot::Takes,
                W::End(_) => Slot::Frees,
                W::Other(_) => Slot::Neutral,
            }
        }
    }

    fn n(w: &W) -> u32 {
        match w {
            W::Begin(i) | W::End(i) | W::Other(i) => *i,
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_writes_and_each_gets_its_answer() {
        let group: Group<W, u32> = Group::new(1, |_| false);
        let writes = AtomicUsize::new(0);
        let write = |items: Vec<W>| {
            writes.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::task::yield_now().await;
                Ok(items.iter().map(|i| n(i) * 10).collect())
            }
        };
        let calls = (0..50).map(|i| group.call(W::Other(i), write));
        let answers = futures::future::join_all(calls).await;
        assert_eq!(answers, (0..50).map(|i| Ok(i * 10)).collect::<Vec<_>>());
        let n = writes.load(Ordering::SeqCst);
        assert!(n < 50, "{n} writes for 50 concurrent callers");
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_caller_of_its_group() {
        let group: Group<W, u32> = Group::new(1, |_| false);
        let write = |_: Vec<W>| async { Err::<Vec<u32>, _>("disk full".to_string()) };
        let answers = futures::future::join_all((0..3).map(|i| group.call(W::Other(i), write))).await;
        assert!(answers.iter().all(|a| a.as_ref().unwrap_err() == &Refused::Failed("disk full".into())));
    }

    /// The bound: never more attempts held than slots, however many ask,
    /// and an outcome's slot goes to a waiting attempt in the same write.
    #[tokio::test]
    async fn attempts_wait_for_a_slot_and_an_outcome_passes_it_on_in_its_write() {
        let group = std::sync::Arc::new(Group::<W, bool>::new(2, |held| *held));
        let groups = std::sync::Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let write = {
            let (group, groups) = (group.clone(), groups.clone());
            move |items: Vec<W>| {
                let (group, groups) = (group.clone(), groups.clone());
                async move {
                    let begins = items.iter().filter(|i| i.slot() == Slot::Takes).count();
                    let ends = items.iter().filter(|i| i.slot() == Slot::Frees).count();
                    assert!(group.held() + begins - ends <= 2, "more than 2 attempts held: {items:?}");
                    groups.lock().unwrap().push(items.iter().map(|i| format!("{i:?}")).collect());
                    tokio::task::yield_now().await;
                    Ok(vec![true; items.len()])
                }
            }
        };
        // Five steps: each attempts, then records its outcome.
        let steps = (0..5).map(|i| {
            let (group, write) = (group.clone(), write.clone());
            async move {
                assert_eq!(group.call(W::Begin(i), write.clone()).await, Ok(true));
                tokio::task::yield_now().await;
                group.call(W::End(i), write).await.unwrap();
            }
        });
        futures::future::join_all(steps).await;
        assert_eq!(group.held(), 0, "every slot back");
        let groups = groups.lock().unwrap().clone();
        assert!(
            groups.iter().any(|g| g.iter().any(|i| i.starts_with("End")) && g.iter().any(|i| i.starts_with("Begin"))),
            "an outcome and the next attempt shared a write: {groups:?}"
        );
    }

    #[tokio::test]
    async fn a_close_answers_the_attempts_still_waiting() {
        let group = std::sync::Arc::new(Group::<W, bool>::new(1, |held| *held));
        let write = |items: Vec<W>| async move { Ok(vec![true; items.len()]) };
        assert_eq!(group.call(W::Begin(0), write).await, Ok(true));
        let waiting = {
            let group = group.clone();
            tokio::spawn(async move { group.call(W::Begin(1), write).await })
        };
        tokio::task::yield_now().await;
        group.close();
        assert_eq!(waiting.await.unwrap(), Err(Refused::Stopped));
        assert_eq!(group.call(W::Begin(2), write).await, Err(Refused::Stopped), "none after");
        group.call(W::End(0), write).await.unwrap();
        assert_eq!(group.held(), 0);
    }
}
