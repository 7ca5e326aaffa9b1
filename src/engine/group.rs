//! Group commit: concurrent callers of one store write share statements.
//! The caller that finds the writer free writes everything queued so far
//! in one call; those who queued meanwhile find their answers written by
//! it (or write the next group themselves). One caller alone writes alone,
//! so `simulate` issues exactly the statements it did before.
//!
//! Why here: with `mail.pool_size` sends in flight, recording each attempt
//! and outcome on its own costs a round trip per message per statement,
//! and the database (not SMTP) becomes the limit.

use std::sync::Mutex;

use std::future::Future;

use tokio::sync::oneshot;

type Reply<R> = oneshot::Sender<Result<R, String>>;

pub struct Group<Q, R> {
    queue: Mutex<Vec<(Q, Reply<R>)>>,
    writer: tokio::sync::Mutex<()>,
}

impl<Q: Send, R: Send> Group<Q, R> {
    pub fn new() -> Group<Q, R> {
        Group { queue: Mutex::new(Vec::new()), writer: tokio::sync::Mutex::new(()) }
    }

    /// Queue `item` and return its answer; `write` answers a whole group,
    /// in order, or fails it as one.
    pub async fn call<F, Fut>(&self, item: Q, write: F) -> Result<R, String>
    where
        F: FnOnce(Vec<Q>) -> Fut,
        Fut: Future<Output = Result<Vec<R>, String>>,
    {
        let (tx, mut rx) = oneshot::channel();
        self.queue.lock().map_err(|e| e.to_string())?.push((item, tx));
        // Wait for the answer or the writer, whichever comes first: a
        // caller whose item another writer took leaves the line at once
        // instead of taking the writer in turn (each would then write what
        // queued meanwhile, and every caller pay for two writes).
        let _writing = tokio::select! {
            biased;
            answer = &mut rx => return answer.map_err(|_| "group write dropped".to_string())?,
            writing = self.writer.lock() => writing,
        };
        // Holding the writer with no answer yet: the item is still queued.
        let pending = std::mem::take(&mut *self.queue.lock().map_err(|e| e.to_string())?);
        let (items, replies): (Vec<Q>, Vec<Reply<R>>) = pending.into_iter().unzip();
        match write(items).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
        rx.await.map_err(|_| "group write dropped".to_string())?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_writes_and_each_gets_its_answer() {
        let group: Group<u32, u32> = Group::new();
        let writes = AtomicUsize::new(0);
        let write = |items: Vec<u32>| {
            writes.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::task::yield_now().await;
                Ok(items.iter().map(|i| i * 10).collect())
            }
        };
        let calls = (0..50).map(|i| group.call(i, write));
        let answers = futures::future::join_all(calls).await;
        assert_eq!(answers, (0..50).map(|i| Ok(i * 10)).collect::<Vec<_>>());
        let n = writes.load(Ordering::SeqCst);
        assert!(n < 50, "{n} writes for 50 concurrent callers");
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_caller_of_its_group() {
        let group: Group<u32, u32> = Group::new();
        let write = |_: Vec<u32>| async { Err::<Vec<u32>, _>("disk full".to_string()) };
        let answers = futures::future::join_all((0..3).map(|i| group.call(i, write))).await;
        assert!(answers.iter().all(|a| a.as_ref().unwrap_err() == "disk full"));
    }
}
