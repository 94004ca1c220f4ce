//! The engine's loop: a pipeline rather than batch-and-wait. Deliveries reach it two ways:
//! handed over by the ingest writers as soon as their batch committed (the usual way, when
//! there is room: see `ingest::handoff`), or claimed from the queue (retries, and
//! whatever found no room). Each attempt ([`super::attempt`]) runs as its own task in a slot,
//! and the recorder ([`super::recorder`]) writes finished outcomes in batches. A slot is held
//! only by its own request, and each target may hold at most its DeliveryPolicy's
//! `MaxInFlight` slots, so a slow or timing-out destination never delays others.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch};

use super::recorder::record;
use super::slots::ClaimView;
use super::Dispatcher;
use crate::domain::delivery_config::DEFAULT_MAX_IN_FLIGHT;
use crate::domain::targets::{TargetKey, TargetKind};
use crate::ingest::{HandedOver, Handoff, Place, Queued};
use crate::storage::deliveries::{self, Claimed, InFlight, Outcome};
use crate::storage::delivery_configs::ConfigNow;
use crate::storage::ingest::CHANNEL;
use crate::storage::StorageError;

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
        // Unbounded, so that a slot is free as soon as its request is done: bounding it let a
        // lagging recorder keep targets at their cap, and a claim then walks the whole backlog
        // (rate-2000 collapsed to 122 deliveries/s). Outcomes are queued without their payload.
        let (outcomes, received) = mpsc::unbounded_channel::<Outcome>();
        *self.recorder() = Some(outcomes.downgrade());
        let recorder = tokio::spawn(record(self.clone(), received));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = self.capacity.free().min(self.settings.batch_size as usize);
            let mut claimed = 0;
            if free > 0 {
                match self.claim(free, &outcomes).await {
                    Ok(n) => claimed = n,
                    Err(err) => {
                        tracing::error!(error = ?err, "claiming deliveries failed");
                        tokio::time::sleep(self.poll_interval()).await;
                    }
                }
            }
            if claimed > 0 && claimed == free {
                continue; // there may be more due right now
            }
            // After the claim, which may have just met a rate-limited target.
            let poll = self.poll_interval();
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
            // An open breaker's probe comes due: the claim takes it from the target's queue.
            let probe = async {
                match self.capacity.next_probe() {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = notified => {}
                _ = self.capacity.freed() => {}
                _ = probe => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => break,
            }
        }
        // No more handovers: triggers accepted from now on queue their deliveries.
        *self.recorder() = None;
        drop(outcomes);
        let _ = recorder.await;
    }

    /// Delivers every delivery that is due now, batch after batch, and returns how many
    /// attempts were made (a rate-limited target gives no more than its tokens, and none on
    /// the claim that creates its bucket). Tests call this directly, with a manual clock.
    pub async fn deliver_due(&self) -> Result<usize, StorageError> {
        let mut attempted = 0;
        loop {
            let batch = deliveries::claim(
                &self.pool,
                self.clock.now(),
                self.settings.batch_size,
                self.lease(),
                &[],
            )
            .await?;
            if batch.deliveries.is_empty() && batch.unreadable.is_empty() {
                return Ok(attempted);
            }
            attempted += batch.deliveries.len() + batch.unreadable.len();
            let mut outcomes = join_all(batch.deliveries.into_iter().map(|delivery| {
                let config = batch.configs.get(&delivery.delivery_config_id);
                self.attempt(delivery, config)
            }))
            .await;
            outcomes.extend(
                batch
                    .unreadable
                    .into_iter()
                    .map(|(d, reason)| self.unreadable(d, reason)),
            );
            deliveries::record(&self.pool, &outcomes, self.clock.now()).await?;
        }
    }

    /// Claims up to `free` due deliveries, as many of each target as it has free slots, and
    /// starts them; returns how many were claimed. The claim counts the requests in flight as
    /// they were when it began; should the ingest handoff have taken a target's room since,
    /// the deliveries it no longer has room for go back to the queue unattempted. A target
    /// with deliveries waiting stays marked so unless the claim took fewer than it had room
    /// for: then its queue is drained, and handovers to it resume.
    async fn claim(
        self: &Arc<Self>,
        free: usize,
        outcomes: &mpsc::UnboundedSender<Outcome>,
    ) -> Result<usize, StorageError> {
        let lease = self.lease();
        let ClaimView {
            in_flight,
            limits,
            waiting,
            seen,
        } = self.capacity.claim_view();
        let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let taken: Vec<InFlight> = in_flight
            .keys()
            .chain(limits.keys().filter(|key| !in_flight.contains_key(*key)))
            .map(|key| InFlight {
                key: key.clone(),
                requests: count(in_flight.get(key).copied().unwrap_or(0)),
                cap: limits.get(key).copied().map(count),
            })
            .collect();
        let now = self.clock.now();
        let batch = deliveries::claim(&self.pool, now, free as u32, lease, &taken).await?;
        let claimed = batch.deliveries.len() + batch.unreadable.len();
        let mut claimed_of: HashMap<TargetKey, u32> = HashMap::new();
        for d in &batch.deliveries {
            *claimed_of.entry(d.target_key()).or_default() += 1;
        }
        for (key, max) in waiting {
            let room = max.saturating_sub(in_flight.get(&key).copied().unwrap_or(0));
            let took = claimed_of.get(&key).copied().unwrap_or(0);
            if claimed < free && took < room {
                self.capacity.drained(&key, seen);
            }
        }
        for (delivery, reason) in batch.unreadable {
            let _ = outcomes.send(self.unreadable(delivery, reason));
        }
        self.note_rate_limited(batch.configs.values());
        let configs: HashMap<String, Arc<ConfigNow>> =
            batch.configs.into_iter().map(|(id, c)| (id, Arc::new(c))).collect();
        let mut no_room = Vec::new();
        for delivery in batch.deliveries {
            let config = configs.get(&delivery.delivery_config_id).cloned();
            let max = config
                .as_deref()
                .map_or(DEFAULT_MAX_IN_FLIGHT, ConfigNow::max_in_flight);
            match self.capacity.try_reserve(delivery.target_key(), max) {
                Some(slot) => self.launch(delivery, config, slot, outcomes.clone()),
                None => no_room.push(delivery),
            }
        }
        if !no_room.is_empty() {
            deliveries::release(&self.pool, &no_room, now).await?;
        }
        Ok(claimed)
    }

    /// Attempts `delivery` in its own task, holding its `slot` (a `Slot`, boxed or not)
    /// until its outcome is queued for recording.
    fn launch(
        self: &Arc<Self>,
        delivery: Claimed,
        config: Option<Arc<ConfigNow>>,
        slot: impl Send + 'static,
        outcomes: mpsc::UnboundedSender<Outcome>,
    ) {
        let this = self.clone();
        self.started(&delivery);
        tokio::spawn(async move {
            // The attempt moved the payload out of the delivery: it is queued for recording
            // without it.
            let outcome = this.attempt(delivery, config.as_deref()).await;
            let id = outcome.delivery.id.clone();
            let _ = outcomes.send(outcome);
            this.finished(&id);
            drop(slot);
        });
    }
}

/// This process's delivery workers, taking deliveries straight from the ingest writers.
pub struct Workers(pub Arc<Dispatcher>);

impl Handoff for Workers {
    fn running(&self) -> bool {
        self.0.recorder().is_some()
    }

    fn lease(&self) -> chrono::Duration {
        self.0.lease()
    }

    fn reserve(&self, config: &ConfigNow, target: TargetKind) -> Option<Place> {
        if !self.running() {
            return None;
        }
        let slot = self
            .0
            .capacity
            .try_hand_over(TargetKey::new(&config.id, target), config.max_in_flight())?;
        Some(Box::new(slot))
    }

    fn committed(&self, handed_over: Vec<HandedOver>, queued: Vec<Queued>) {
        self.0.note_rate_limited(queued.iter().map(|q| &*q.config));
        for Queued { config, target } in queued {
            let key = TargetKey::new(&config.id, target);
            self.0.capacity.queued(key, config.max_in_flight());
        }
        if handed_over.is_empty() {
            return;
        }
        let outcomes = self.0.recorder().as_ref().and_then(mpsc::WeakUnboundedSender::upgrade);
        let Some(outcomes) = outcomes else {
            tracing::warn!(
                count = handed_over.len(),
                "the delivery workers stopped; deliveries handed over are sent when their leases run out"
            );
            return;
        };
        for HandedOver {
            delivery,
            config,
            place,
        } in handed_over
        {
            self.0.launch(delivery, Some(config), place, outcomes.clone());
        }
    }
}
