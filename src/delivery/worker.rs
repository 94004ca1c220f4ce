//! The background worker: a pipeline rather than batch-and-wait. One loop claims due
//! deliveries while there are free slots; each attempt runs as its own task; a recorder
//! writes finished outcomes in batches. A slot is held only by its own request, and each
//! target may hold at most its DeliveryPolicy's `MaxInFlight` slots (the claim takes none of its
//! deliveries while it is at the cap, and reads each target's queue apart), so a slow or
//! timing-out destination never delays others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::types::Json;
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use super::Dispatcher;
use crate::storage::deliveries::{self, InFlight, Outcome};
use crate::storage::ingest::CHANNEL;

/// Outcomes written in one transaction at most.
const RECORD_BATCH: usize = 512;

/// Requests in flight per target (DeliveryConfig ID, target): the claim leaves each target
/// only the slots of its `MaxInFlight` these do not take.
#[derive(Default)]
struct TargetLoad(Mutex<HashMap<(String, String), i32>>);

impl TargetLoad {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), i32>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn start(&self, key: &(String, String)) {
        *self.lock().entry(key.clone()).or_insert(0) += 1;
    }

    fn finish(&self, key: &(String, String)) {
        let mut map = self.lock();
        if let Some(requests) = map.get_mut(key) {
            *requests -= 1;
            if *requests <= 0 {
                map.remove(key);
            }
        }
    }

    fn snapshot(&self) -> Vec<InFlight> {
        self.lock()
            .iter()
            .map(|((config, target), requests)| InFlight {
                delivery_config_id: config.clone(),
                target: target.clone(),
                requests: *requests,
            })
            .collect()
    }
}

async fn listen(dispatcher: &Dispatcher) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(&dispatcher.pool).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(error = %err, "no LISTEN connection; polling only");
            return None;
        }
    };
    match listener.listen(CHANNEL).await {
        Ok(()) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, "LISTEN failed; polling only");
            None
        }
    }
}

impl Dispatcher {
    /// Runs until `shutdown` says stop, then lets attempts in flight finish and be recorded.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut listener = listen(&self).await;
        let slots = Arc::new(Semaphore::new(self.settings.max_in_flight));
        let load = Arc::new(TargetLoad::default());
        let freed = Arc::new(Notify::new());
        // Unbounded, so that a slot is free as soon as its request is done: bounding it let a
        // lagging recorder keep targets at their cap, and a claim then walks the whole backlog
        // (rate-2000 collapsed to 122 deliveries/s). Outcomes are queued without their payload.
        let (outcomes, received) = mpsc::unbounded_channel::<Outcome>();
        let recorder = tokio::spawn(record(self.clone(), received));
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let lease = chrono::Duration::from_std(self.settings.lease()).unwrap_or(chrono::Duration::MAX);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = slots.available_permits().min(self.settings.batch_size as usize);
            let mut claimed = 0;
            if free > 0 {
                let taken = load.snapshot();
                match deliveries::claim(&self.pool, self.clock.now(), free as u32, lease, &taken).await {
                    Ok(batch) => {
                        claimed = batch.deliveries.len();
                        let configs = Arc::new(batch.configs);
                        for delivery in batch.deliveries {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                break;
                            };
                            let key = (delivery.delivery_config_id.clone(), delivery.target.clone());
                            load.start(&key);
                            let (this, configs, outcomes, load, freed) = (
                                self.clone(),
                                configs.clone(),
                                outcomes.clone(),
                                load.clone(),
                                freed.clone(),
                            );
                            tokio::spawn(async move {
                                let mut outcome = this.attempt(delivery, &configs).await;
                                // Recorded without its payload: free that now.
                                outcome.delivery.payload = Json(Value::Null);
                                let _ = outcomes.send(outcome);
                                load.finish(&key);
                                drop(permit);
                                freed.notify_one();
                            });
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = ?err, "claiming deliveries failed");
                        tokio::time::sleep(poll).await;
                    }
                }
            }
            if claimed > 0 && claimed == free {
                continue; // there may be more due right now
            }
            let notified = async {
                match &mut listener {
                    Some(listener) => {
                        if listener.recv().await.is_err() {
                            tokio::time::sleep(poll).await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = notified => {}
                _ = freed.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => break,
            }
        }
        drop(outcomes);
        let _ = recorder.await;
    }
}

/// Writes outcomes as they come, many per transaction under load. If writing fails the
/// deliveries stay leased and are attempted again when their leases run out (at-least-once).
async fn record(dispatcher: Arc<Dispatcher>, mut received: mpsc::UnboundedReceiver<Outcome>) {
    while let Some(first) = received.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match received.try_recv() {
                Ok(outcome) => batch.push(outcome),
                Err(_) => break,
            }
        }
        if let Err(err) = deliveries::record(&dispatcher.pool, &batch, dispatcher.clock.now()).await {
            tracing::error!(error = ?err, count = batch.len(), "recording outcomes failed; their leases will expire");
        }
    }
}
