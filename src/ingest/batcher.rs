//! Group commit. Request handlers hand their parsed trigger to the [`Ingester`] and wait; a few
//! writer tasks each take everything that has arrived (up to `ingest.max_batch`) and accept it
//! in one transaction, then answer every trigger of the batch once it committed. Under load a
//! commit — and each statement's planning and round trip — is shared by dozens of triggers;
//! alone, a trigger is accepted at once.
//!
//! Triggers of one batch see each other's writes, so a batch never holds two that could
//! disagree: two triggers about the same order, user or anonymous visitor, or carrying the
//! same idempotency key, never share a batch, nor do two carrying different documents of the
//! same product. Such a trigger waits until the batch holding the other has committed, and so
//! does every trigger after it that shares one of its keys: each shopper's triggers are applied
//! one after another, in the order they arrived. Other instances' triggers about the same shopper
//! wait for the lock the batch's transaction holds ([`super::accept`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use super::accept::{accept_together, shoppers, Accepted};
use super::{Handoff, IngestError};
use crate::clock::Clock;
use crate::config::IngestSettings;
use crate::domain::trigger::Trigger;
use crate::storage::{unavailable, StorageError};

/// Hands triggers to the writer tasks; cheap to share between request handlers.
pub struct Ingester {
    queue: mpsc::Sender<Submission>,
}

struct Submission {
    trigger: Trigger,
    footprint: Footprint,
    reply: oneshot::Sender<Result<Accepted, IngestError>>,
}

impl Ingester {
    /// Starts `settings.writers` writer tasks on the current runtime. They stop when the
    /// Ingester is dropped and every trigger handed over has been answered. With a `handoff`,
    /// the deliveries this process's workers have room for go straight to them.
    pub fn start(pool: PgPool, clock: Clock, settings: &IngestSettings, handoff: Option<Arc<dyn Handoff>>) -> Ingester {
        let (queue, received) = mpsc::channel(settings.max_batch * settings.writers * 2);
        let shared = Arc::new(Shared {
            gatherer: Mutex::new(Gatherer {
                received,
                waiting: VecDeque::new(),
            }),
            held: std::sync::Mutex::new(Held::default()),
            released: Notify::new(),
        });
        for _ in 0..settings.writers {
            let writer = Writer {
                pool: pool.clone(),
                clock: clock.clone(),
                handoff: handoff.clone(),
            };
            tokio::spawn(write_batches(shared.clone(), writer, settings.max_batch));
        }
        Ingester { queue }
    }

    /// Accepts `trigger` with whichever others are waiting; returns once its batch committed.
    pub async fn accept(&self, trigger: Trigger) -> Result<Accepted, IngestError> {
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            footprint: Footprint::of(&trigger),
            trigger,
            reply,
        };
        self.queue.send(submission).await.map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }
}

/// What a trigger touches that another trigger of the same batch must not.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Footprint {
    /// Orders, users, anonymous IDs and the idempotency key: one trigger per batch each.
    exclusive: Vec<String>,
    /// Products the trigger writes, with a hash of the document: triggers writing the same
    /// document may share a batch.
    products: Vec<(String, u64)>,
}

impl Footprint {
    pub(super) fn of(trigger: &Trigger) -> Footprint {
        let mut exclusive = shoppers(trigger);
        if let Some(key) = &trigger.idempotency_key {
            exclusive.push(format!("key/{}/{key}", trigger.client_id));
        }
        let products = trigger
            .products
            .iter()
            .map(|p| {
                let mut hasher = DefaultHasher::new();
                serde_json::to_string(&p.doc).unwrap_or_default().hash(&mut hasher);
                (p.id.to_string(), hasher.finish())
            })
            .collect();
        Footprint { exclusive, products }
    }
}

/// The keys of the batches being written: a trigger sharing one waits until they committed.
#[derive(Default)]
struct Held {
    exclusive: HashSet<String>,
    /// Each product's document hash, and how many batches in flight write it.
    products: HashMap<String, (u64, usize)>,
}

impl Held {
    fn hold(&mut self, footprint: &Footprint) {
        self.exclusive.extend(footprint.exclusive.iter().cloned());
        for (id, hash) in &footprint.products {
            self.products.entry(id.clone()).or_insert((*hash, 0)).1 += 1;
        }
    }

    fn release(&mut self, footprint: &Footprint) {
        for key in &footprint.exclusive {
            self.exclusive.remove(key);
        }
        for (id, _) in &footprint.products {
            if let Some((_, n)) = self.products.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    self.products.remove(id);
                }
            }
        }
    }
}

/// The keys taken while a batch is formed: by batches in flight, by the triggers joining it,
/// and by those left waiting (so that nothing overtakes them).
#[derive(Default)]
struct Taken<'a> {
    exclusive: HashSet<&'a str>,
    /// A product's document hash, or None when a waiting trigger writes it.
    products: HashMap<&'a str, Option<u64>>,
}

impl<'a> Taken<'a> {
    fn from(held: &'a Held) -> Taken<'a> {
        Taken {
            exclusive: held.exclusive.iter().map(String::as_str).collect(),
            products: held
                .products
                .iter()
                .map(|(id, (hash, _))| (id.as_str(), Some(*hash)))
                .collect(),
        }
    }

    fn admits(&self, footprint: &Footprint) -> bool {
        footprint.exclusive.iter().all(|k| !self.exclusive.contains(k.as_str()))
            && footprint
                .products
                .iter()
                .all(|(id, hash)| self.products.get(id.as_str()).is_none_or(|taken| *taken == Some(*hash)))
    }

    fn take(&mut self, footprint: &'a Footprint, joined: bool) {
        self.exclusive.extend(footprint.exclusive.iter().map(String::as_str));
        for (id, hash) in &footprint.products {
            let entry = self.products.entry(id.as_str()).or_insert(Some(*hash));
            if !joined {
                *entry = None;
            }
        }
    }
}

/// What the writer tasks share.
struct Shared {
    /// Forms the batches; one writer at a time holds it.
    gatherer: Mutex<Gatherer>,
    held: std::sync::Mutex<Held>,
    /// A batch committed (or failed): triggers waiting behind it may go.
    released: Notify,
}

impl Shared {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Gatherer {
    received: mpsc::Receiver<Submission>,
    /// Arrived but not yet batched, in arrival order.
    waiting: VecDeque<Submission>,
}

impl Gatherer {
    /// Waits for a trigger that may go, then returns it with every other that may join it, at
    /// most `max`; their keys are then held until [`Held::release`]. Empty once the queue is
    /// closed and drained.
    async fn next_batch(&mut self, shared: &Shared, max: usize) -> Vec<Submission> {
        loop {
            if self.waiting.is_empty() {
                match self.received.recv().await {
                    Some(submission) => self.waiting.push_back(submission),
                    None => return Vec::new(),
                }
            }
            while self.waiting.len() < max {
                match self.received.try_recv() {
                    Ok(submission) => self.waiting.push_back(submission),
                    Err(_) => break,
                }
            }
            let batch = self.form(shared, max);
            if !batch.is_empty() {
                return batch;
            }
            // Everything waiting is behind a batch in flight.
            tokio::select! {
                arrived = self.received.recv() => match arrived {
                    Some(submission) => self.waiting.push_back(submission),
                    None => shared.released.notified().await,
                },
                _ = shared.released.notified() => {}
            }
        }
    }

    fn form(&mut self, shared: &Shared, max: usize) -> Vec<Submission> {
        let mut held = shared.held();
        let joins: Vec<bool> = {
            let mut taken = Taken::from(&held);
            let mut joined = 0;
            self.waiting
                .iter()
                .map(|s| {
                    let joins = joined < max && taken.admits(&s.footprint);
                    joined += usize::from(joins);
                    taken.take(&s.footprint, joins);
                    joins
                })
                .collect()
        };
        let mut batch = Vec::new();
        let mut left = VecDeque::new();
        for (submission, joins) in self.waiting.drain(..).zip(joins) {
            if joins {
                held.hold(&submission.footprint);
                batch.push(submission);
            } else {
                left.push_back(submission);
            }
        }
        self.waiting = left;
        batch
    }
}

/// What one writer task accepts triggers with.
struct Writer {
    pool: PgPool,
    clock: Clock,
    handoff: Option<Arc<dyn Handoff>>,
}

async fn write_batches(shared: Arc<Shared>, writer: Writer, max: usize) {
    loop {
        let mut batch = shared.gatherer.lock().await.next_batch(&shared, max).await;
        if batch.is_empty() {
            return;
        }
        let footprints: Vec<Footprint> = batch.iter_mut().map(|s| std::mem::take(&mut s.footprint)).collect();
        writer.write_batch(batch).await;
        let mut held = shared.held();
        for footprint in &footprints {
            held.release(footprint);
        }
        drop(held);
        shared.released.notify_one();
    }
}

impl Writer {
    /// Accepts a batch and answers each of its triggers. When the batch fails for a reason
    /// other than the database being unreachable, each trigger is tried again on its own, so
    /// that one trigger's failure (a document that cannot be read back, a constraint) is only
    /// its own: its neighbours are accepted or refused on their own merits.
    async fn write_batch(&self, batch: Vec<Submission>) {
        let triggers: Vec<&Trigger> = batch.iter().map(|s| &s.trigger).collect();
        match self.accept(&triggers).await {
            Ok(accepted) => {
                for (submission, accepted) in batch.into_iter().zip(accepted) {
                    let _ = submission.reply.send(Ok(accepted));
                }
            }
            Err(err) if batch.len() > 1 && !unavailable(&err) => {
                tracing::warn!(error = %err, triggers = batch.len(), "a batch of triggers failed; accepting each alone");
                for submission in batch {
                    let accepted = self
                        .accept(&[&submission.trigger])
                        .await
                        .map(|mut accepted| accepted.remove(0))
                        .map_err(|err| IngestError::Storage(StorageError::Database(err)));
                    let _ = submission.reply.send(accepted);
                }
            }
            Err(err) if unavailable(&err) => {
                // Nothing of the batch was stored; each of its triggers is told so.
                let err = Arc::new(err);
                for submission in batch {
                    let _ = submission.reply.send(Err(IngestError::Unavailable(err.clone())));
                }
            }
            Err(err) => {
                // A batch of one: larger ones were tried trigger by trigger above.
                if let Some(submission) = batch.into_iter().next() {
                    let _ = submission
                        .reply
                        .send(Err(IngestError::Storage(StorageError::Database(err))));
                }
            }
        }
    }

    async fn accept(&self, triggers: &[&Trigger]) -> Result<Vec<Accepted>, sqlx::Error> {
        accept_together(&self.pool, triggers, self.clock.now(), self.handoff.as_deref()).await
    }
}
