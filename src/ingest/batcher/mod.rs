//! Group commit. Request handlers hand their parsed trigger to the [`Ingester`] and wait; a few
//! writer tasks each take everything that has arrived (up to `ingest.max_batch`) and accept it
//! in one transaction, then answer every trigger of the batch once it committed. Under load a
//! commit — and each statement's planning and round trip — is shared by dozens of triggers;
//! alone, a trigger is accepted at once.
//!
//! A batch applies its triggers in arrival order, each seeing the writes of those before it and
//! never of those after ([`super::accept`]), so triggers about the same order, user or anonymous
//! visitor, or carrying different documents of one product, share a batch as readily as any:
//! a busy shopper's or a hot product's triggers are accepted dozens at a time, not one commit
//! each. Across batches, a trigger waits while a batch in flight is about one of its shoppers or
//! writes another document of one of its products, so that it reads what that batch wrote; every
//! later trigger sharing a key with it waits too, so that none overtakes it; and two triggers
//! with the same idempotency key never share a batch ([`footprint`]). Each shopper's triggers are
//! thus applied one after another, in the order they arrived. Other instances' triggers about
//! the same shopper wait for the lock the batch's transaction holds ([`super::accept`]).

mod footprint;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use super::accept::{accept_together, Accepted};
use super::{Handoff, IngestError};
use crate::clock::Clock;
use crate::config::IngestSettings;
use crate::domain::trigger::Trigger;
use crate::storage::{unavailable, StorageError, CHECK_IF_IDLE_FOR};
use footprint::{joining, Footprint, Held};

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
                conn: None,
                last_used: Instant::now(),
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
        let joins = joining(&held, self.waiting.iter().map(|s| &s.footprint), max);
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
    /// The writer's connection, kept from batch to batch: given back to the pool after each,
    /// it was returned by a task of its own, and the next batch often waited for that task to
    /// run before it could take it again. Given back when it sat idle (the pool then checks it
    /// on the way out again), and closed after an error.
    conn: Option<PoolConnection<Postgres>>,
    last_used: Instant,
    clock: Clock,
    handoff: Option<Arc<dyn Handoff>>,
}

async fn write_batches(shared: Arc<Shared>, mut writer: Writer, max: usize) {
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
    async fn write_batch(&mut self, batch: Vec<Submission>) {
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

    async fn accept(&mut self, triggers: &[&Trigger]) -> Result<Vec<Accepted>, sqlx::Error> {
        if self.last_used.elapsed() >= CHECK_IF_IDLE_FOR {
            // Idle: back to the pool, which checks it (and retires it when old) on the way out.
            self.conn = None;
        }
        self.last_used = Instant::now();
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.pool.acquire().await?),
        };
        let accepted = accept_together(conn, triggers, self.clock.now(), self.handoff.as_deref()).await;
        if accepted.is_err() {
            // It may be lost, or hold a transaction sqlx does not know of: closed, not reused.
            if let Some(mut conn) = self.conn.take() {
                conn.close_on_drop();
            }
        }
        accepted
    }
}
