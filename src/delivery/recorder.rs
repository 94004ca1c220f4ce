//! Recording outcomes: finished attempts are written in batches, each outcome with those
//! arriving within [`RECORD_LINGER`] of it, one statement per batch. The attempts in flight are
//! known too, so that a shutdown that cannot wait for them records them as `Interrupted`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::Dispatcher;
use crate::domain::delivery::DeliveryId;
use crate::storage::deliveries::{self, Claimed, Outcome};
use crate::storage::StorageError;

/// Outcomes written in one transaction at most.
const RECORD_BATCH: usize = 512;

/// How long an outcome waits for others to be written with. At a few hundred deliveries a
/// second, outcomes otherwise come one at a time, each a statement and a commit of its own;
/// the wait only delays when an attempt shows in the records: its place is free already, and
/// its lease runs for far longer.
const RECORD_LINGER: Duration = Duration::from_millis(5);

impl Dispatcher {
    pub(super) fn recorder(&self) -> std::sync::MutexGuard<'_, Option<mpsc::WeakUnboundedSender<Outcome>>> {
        self.recorder.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<DeliveryId, (i32, DateTime<Utc>)>> {
        self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes an attempt at `delivery` starting in a task of this process.
    pub(super) fn started(&self, delivery: &Claimed) {
        self.in_flight()
            .insert(delivery.id.clone(), (delivery.attempts, self.clock.now()));
    }

    /// Notes that the attempt at delivery `id` is over and its outcome queued for recording.
    pub(super) fn finished(&self, id: &DeliveryId) {
        self.in_flight().remove(id);
    }

    /// Records every attempt still in flight as `Interrupted` and makes its delivery due
    /// again at once, instead of when its lease runs out: for a shutdown that cannot wait for
    /// them. Returns how many there were.
    pub async fn interrupt_in_flight(&self) -> Result<usize, StorageError> {
        let interrupted: Vec<(DeliveryId, i32, DateTime<Utc>)> = self
            .in_flight()
            .iter()
            .map(|(id, (attempt, started))| (id.clone(), *attempt, *started))
            .collect();
        deliveries::interrupt(&self.pool, &interrupted, self.clock.now()).await?;
        Ok(interrupted.len())
    }
}

/// Writes outcomes as they come: each with those arriving within [`RECORD_LINGER`] of it, many
/// per statement under load. If writing fails the deliveries stay leased and are attempted
/// again when their leases run out (at-least-once).
pub(super) async fn record(dispatcher: Arc<Dispatcher>, mut received: mpsc::UnboundedReceiver<Outcome>) {
    while let Some(first) = received.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + RECORD_LINGER;
        while batch.len() < RECORD_BATCH {
            match tokio::time::timeout_at(until, received.recv()).await {
                Ok(Some(outcome)) => batch.push(outcome),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(err) = deliveries::record(&dispatcher.pool, &batch, dispatcher.clock.now()).await {
            tracing::error!(error = ?err, count = batch.len(), "recording outcomes failed; their leases will expire");
        }
    }
}
