//! The worker's capacity: how many requests this process may have in flight, all targets
//! together (`delivery.max_in_flight`) and to each target (its DeliveryPolicy's
//! `MaxInFlight`). Every request holds a [`Slot`] from its start to its end, whether its
//! delivery was claimed from the queue or handed over by the ingest writers, so a target never
//! exceeds its cap: a slow destination holds only its own slots.
//!
//! A target that had no room for a delivery has deliveries *waiting* in the queue. It gets no
//! handovers until a claim finds its queue drained, so that new deliveries line up behind the
//! waiting ones instead of taking each place as it comes free (which left some waiting for
//! seconds under load).
//!
//! Each target's circuit breaker ([`super::breaker`]) lowers its cap while open: none, then
//! one probe. A breaker that closes wakes the claim, so that the target's queue drains at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::breaker::{Allows, Breaker, BreakerPolicy, Change};
use crate::domain::attempt::Health;
use crate::domain::targets::TargetKey;

pub(crate) struct Capacity {
    slots: Arc<Semaphore>,
    breaker: BreakerPolicy,
    load: Mutex<Load>,
    /// A slot came free where deliveries wait in the queue, or a breaker closed: a claim may
    /// take them.
    freed: Notify,
}

#[derive(Default)]
struct Load {
    /// Requests in flight to each target that has any.
    requests: HashMap<TargetKey, u32>,
    /// Targets with deliveries waiting in the queue for want of room: each one's cap, and
    /// the refusal that last put one there.
    waiting: HashMap<TargetKey, (u32, Refusal)>,
    /// How many times a target had no room.
    refusals: Refusal,
    /// The breakers of targets that failed lately; the others are closed.
    breakers: HashMap<TargetKey, Breaker>,
}

/// A count of refusals: which ones happened before a claim began.
pub(crate) type Refusal = u64;

impl Load {
    /// Marks `key` as having deliveries waiting, as of a new refusal.
    fn wait(&mut self, key: TargetKey, max: u32) {
        self.refusals += 1;
        self.waiting.insert(key, (max, self.refusals));
    }

    /// The most requests `key` may have in flight now: its cap, as its breaker allows.
    fn cap(&self, key: &TargetKey, max: u32, now: Instant) -> u32 {
        self.breakers.get(key).map_or(max, |b| b.allows(now).cap(max))
    }
}

/// What a claim needs to know of the load, taken at one moment.
pub(crate) struct ClaimView {
    /// Requests in flight to each target that has any.
    pub in_flight: HashMap<TargetKey, u32>,
    /// Targets whose breaker is open, with the requests it allows them at once (0 or 1).
    pub limits: HashMap<TargetKey, u32>,
    /// The targets with deliveries waiting, with their caps as their breakers allow.
    pub waiting: Vec<(TargetKey, u32)>,
    /// The last refusal so far.
    pub seen: Refusal,
}

/// One request's place; dropping it frees the place.
pub(crate) struct Slot {
    capacity: Arc<Capacity>,
    key: TargetKey,
    _permit: OwnedSemaphorePermit,
}

impl Capacity {
    pub(crate) fn new(max_in_flight: usize, breaker: BreakerPolicy) -> Arc<Capacity> {
        Arc::new(Capacity {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            breaker,
            load: Mutex::default(),
            freed: Notify::new(),
        })
    }

    fn load(&self) -> std::sync::MutexGuard<'_, Load> {
        self.load.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Free places, all targets together.
    pub(crate) fn free(&self) -> usize {
        self.slots.available_permits()
    }

    /// The load as a claim sees it.
    pub(crate) fn claim_view(&self) -> ClaimView {
        let load = self.load();
        let now = Instant::now();
        let limits = load
            .breakers
            .iter()
            .map(|(key, breaker)| (key, breaker.allows(now)))
            .filter(|(_, allows)| *allows != Allows::All)
            .map(|(key, allows)| (key.clone(), allows.cap(u32::MAX)))
            .collect();
        let waiting = load
            .waiting
            .iter()
            .map(|(key, (max, _))| (key.clone(), load.cap(key, *max, now)))
            .collect();
        ClaimView {
            in_flight: load.requests.clone(),
            limits,
            waiting,
            seen: load.refusals,
        }
    }

    /// A slot for one request to `key`, if the process and the target (at most `max` at once)
    /// both have room now; otherwise the target has a delivery waiting in the queue.
    pub(crate) fn try_reserve(self: &Arc<Self>, key: TargetKey, max: u32) -> Option<Slot> {
        self.reserve(key, max, false)
    }

    /// As [`Capacity::try_reserve`], for a new delivery: none while deliveries of the target
    /// wait in the queue, so that it does not overtake them.
    pub(crate) fn try_hand_over(self: &Arc<Self>, key: TargetKey, max: u32) -> Option<Slot> {
        self.reserve(key, max, true)
    }

    fn reserve(self: &Arc<Self>, key: TargetKey, max: u32, behind_waiting: bool) -> Option<Slot> {
        let mut load = self.load();
        if behind_waiting && load.waiting.contains_key(&key) {
            return None;
        }
        let requests = load.requests.get(&key).copied().unwrap_or(0);
        let permit = (requests < load.cap(&key, max, Instant::now()))
            .then(|| self.slots.clone().try_acquire_owned().ok())
            .flatten();
        let Some(permit) = permit else {
            load.wait(key, max);
            return None;
        };
        load.requests.insert(key.clone(), requests + 1);
        Some(Slot {
            capacity: self.clone(),
            key,
            _permit: permit,
        })
    }

    /// Deliveries to `key` were committed to the queue for want of room. Marked again now, so
    /// that a claim that began before they were visible cannot count the target as drained;
    /// the claim is woken now if the target has no request in flight, whose end would wake
    /// it, and its breaker lets one go.
    pub(crate) fn queued(&self, key: TargetKey, max: u32) {
        let mut load = self.load();
        let wake = !load.requests.contains_key(&key) && load.cap(&key, max, Instant::now()) > 0;
        load.wait(key, max);
        drop(load);
        if wake {
            self.freed.notify_one();
        }
    }

    /// Takes what an attempt sent at `sent` found of its target's destination into the
    /// target's breaker, and returns what that changed.
    pub(crate) fn observe(&self, key: &TargetKey, health: Health, sent: Instant) -> Option<Change> {
        let mut load = self.load();
        let breaker = load.breakers.entry(key.clone()).or_default();
        let change = breaker.observe(health, sent, Instant::now(), &self.breaker);
        if breaker.is_clear() {
            load.breakers.remove(key);
        }
        drop(load);
        let TargetKey { config, kind: target } = key;
        match change {
            Some(Change::Opened { open_for, down_for }) => tracing::warn!(
                delivery_config = %config, %target,
                open_for_ms = open_for.as_millis() as u64, down_for_ms = down_for.as_millis() as u64,
                "the destination is down: its circuit breaker is open, deliveries wait in the queue"
            ),
            Some(Change::Closed) => {
                tracing::info!(
                    delivery_config = %config, %target,
                    "the destination is up again: its circuit breaker closed"
                );
                self.freed.notify_one();
            }
            None => {}
        }
        change
    }

    /// When the next probe of an open breaker comes due, if one is still to come.
    pub(crate) fn next_probe(&self) -> Option<Instant> {
        let now = Instant::now();
        let load = self.load();
        load.breakers
            .values()
            .filter_map(Breaker::probe_at)
            .filter(|at| *at > now)
            .min()
    }

    /// A claim begun after refusal `seen` found the target's queue drained: handovers to it
    /// resume, unless it was refused again since.
    pub(crate) fn drained(&self, key: &TargetKey, seen: Refusal) {
        let mut load = self.load();
        if load.waiting.get(key).is_some_and(|(_, refusal)| *refusal <= seen) {
            load.waiting.remove(key);
        }
    }

    /// Waits until a claim may find room that it did not find before.
    pub(crate) async fn freed(&self) {
        self.freed.notified().await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let may_help = {
            let mut load = self.capacity.load();
            let requests = load.requests.get(&self.key).copied().unwrap_or(0);
            if requests <= 1 {
                load.requests.remove(&self.key);
            } else {
                load.requests.insert(self.key.clone(), requests - 1);
            }
            // The permit is released after this, when the fields drop: none free now means
            // the process was full, and any target waiting may take this place.
            let process_was_full = self.capacity.slots.available_permits() == 0;
            let own_room = load
                .waiting
                .get(&self.key)
                .is_some_and(|(max, _)| requests.saturating_sub(1) < load.cap(&self.key, *max, Instant::now()));
            own_room || (process_was_full && !load.waiting.is_empty())
        };
        // A place freed where deliveries wait for one wakes the claim (the wakes of one
        // claim's time coalesce): its own target's, unless its breaker is open, or any when
        // the whole process was full. A place of another target, freed while the process has
        // room, gives the waiting targets nothing: beside a destination that times out, each
        // healthy request woke a claim in vain. A claim woken now finds the target's count
        // already lowered, and at worst one place fewer than there is.
        if may_help {
            self.capacity.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests;
