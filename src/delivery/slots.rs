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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A target: (DeliveryConfig ID, target kind).
pub(crate) type TargetKey = (String, String);

pub(crate) struct Capacity {
    slots: Arc<Semaphore>,
    load: Mutex<Load>,
    /// A slot came free while deliveries wait in the queue: a claim may take it.
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
}

/// A count of refusals: which ones happened before a claim began.
pub(crate) type Refusal = u64;

impl Load {
    /// Marks `key` as having deliveries waiting, as of a new refusal.
    fn wait(&mut self, key: TargetKey, max: u32) {
        self.refusals += 1;
        self.waiting.insert(key, (max, self.refusals));
    }
}

/// One request's place; dropping it frees the place.
pub(crate) struct Slot {
    capacity: Arc<Capacity>,
    key: TargetKey,
    _permit: OwnedSemaphorePermit,
}

impl Capacity {
    pub(crate) fn new(max_in_flight: usize) -> Arc<Capacity> {
        Arc::new(Capacity {
            slots: Arc::new(Semaphore::new(max_in_flight)),
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

    /// Requests in flight to each target that has any.
    pub(crate) fn in_flight(&self) -> HashMap<TargetKey, u32> {
        self.load().requests.clone()
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
        let permit = (requests < max)
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

    /// The targets with deliveries waiting, with their caps, and the last refusal so far.
    pub(crate) fn waiting(&self) -> (Vec<(TargetKey, u32)>, Refusal) {
        let load = self.load();
        let waiting = load.waiting.iter().map(|(key, (max, _))| (key.clone(), *max)).collect();
        (waiting, load.refusals)
    }

    /// Deliveries to `key` were committed to the queue for want of room. Marked again now, so
    /// that a claim that began before they were visible cannot count the target as drained;
    /// woken now if no request is in flight, whose end would wake it.
    pub(crate) fn queued(&self, key: TargetKey, max: u32) {
        let mut load = self.load();
        load.wait(key, max);
        let idle = load.requests.is_empty();
        drop(load);
        if idle {
            self.freed.notify_one();
        }
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
        let anything_waits = {
            let mut load = self.capacity.load();
            let requests = load.requests.get(&self.key).copied().unwrap_or(0);
            if requests <= 1 {
                load.requests.remove(&self.key);
            } else {
                load.requests.insert(self.key.clone(), requests - 1);
            }
            !load.waiting.is_empty()
        };
        // Every place freed while deliveries wait wakes the claim (the wakes of one claim's
        // time coalesce): waking only for a target at its cap let a wake spent on a claim that
        // found no room leave the others asleep until the next poll. The permit is released
        // after this, when the fields drop; a claim woken now finds the target's count already
        // lowered, and at worst one place fewer than there is.
        if anything_waits {
            self.capacity.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(target: &str) -> TargetKey {
        ("config".to_owned(), target.to_owned())
    }

    #[test]
    fn a_target_gets_at_most_its_cap_and_the_process_at_most_its_own() {
        let capacity = Capacity::new(3);
        let a1 = capacity.try_reserve(key("a"), 2).unwrap();
        let _a2 = capacity.try_reserve(key("a"), 2).unwrap();
        assert!(capacity.try_reserve(key("a"), 2).is_none(), "a is at its cap");
        let _b1 = capacity.try_reserve(key("b"), 5).unwrap();
        assert!(capacity.try_reserve(key("b"), 5).is_none(), "the process is full");
        assert_eq!(capacity.free(), 0);
        drop(a1);
        assert_eq!(capacity.free(), 1);
        assert!(capacity.try_reserve(key("a"), 2).is_some(), "a's freed slot");
    }

    #[test]
    fn load_counts_requests_and_forgets_idle_targets() {
        let capacity = Capacity::new(10);
        let a1 = capacity.try_reserve(key("a"), 5).unwrap();
        let a2 = capacity.try_reserve(key("a"), 5).unwrap();
        assert_eq!(capacity.in_flight(), HashMap::from([(key("a"), 2)]));
        drop(a1);
        assert_eq!(capacity.in_flight(), HashMap::from([(key("a"), 1)]));
        drop(a2);
        assert!(capacity.in_flight().is_empty());
        assert_eq!(capacity.free(), 10);
    }

    #[test]
    fn a_target_without_room_gets_no_handovers_until_its_queue_is_taken() {
        let capacity = Capacity::new(10);
        let a1 = capacity.try_hand_over(key("a"), 1).unwrap();
        assert!(capacity.try_hand_over(key("a"), 1).is_none(), "at its cap: queued");
        drop(a1);
        assert!(capacity.try_hand_over(key("a"), 1).is_none(), "behind the queued one");
        assert!(
            capacity.try_hand_over(key("b"), 1).is_some(),
            "other targets are not held up"
        );
        let (waiting, seen) = capacity.waiting();
        assert_eq!(waiting, vec![(key("a"), 1)]);
        capacity.drained(&key("a"), seen);
        assert!(capacity.try_hand_over(key("a"), 1).is_some(), "its queue was drained");
    }

    #[test]
    fn a_refusal_during_a_claim_keeps_the_target_waiting() {
        let capacity = Capacity::new(10);
        let a1 = capacity.try_hand_over(key("a"), 1).unwrap();
        let (_, seen) = capacity.waiting();
        assert!(
            capacity.try_hand_over(key("a"), 1).is_none(),
            "no room, while the claim runs"
        );
        capacity.drained(&key("a"), seen);
        drop(a1);
        assert!(
            capacity.try_hand_over(key("a"), 1).is_none(),
            "the later refusal still waits"
        );
    }

    #[test]
    fn deliveries_committed_to_the_queue_during_a_claim_keep_the_target_waiting() {
        let capacity = Capacity::new(10);
        let (_, seen) = capacity.waiting();
        capacity.queued(key("a"), 4);
        capacity.drained(&key("a"), seen);
        assert!(capacity.try_hand_over(key("a"), 4).is_none(), "still behind its queue");
    }

    #[tokio::test]
    async fn deliveries_queued_with_nothing_in_flight_wake_the_claim() {
        let capacity = Capacity::new(10);
        capacity.queued(key("a"), 4);
        tokio::time::timeout(std::time::Duration::from_secs(1), capacity.freed())
            .await
            .expect("woken");
    }

    #[tokio::test]
    async fn a_slot_freed_while_deliveries_wait_wakes_the_claim() {
        let capacity = Capacity::new(10);
        let a1 = capacity.try_reserve(key("a"), 2).unwrap();
        drop(a1);
        let idle = tokio::time::timeout(std::time::Duration::from_millis(50), capacity.freed()).await;
        assert!(idle.is_err(), "nothing waits: no wake");
        let a1 = capacity.try_reserve(key("a"), 1).unwrap();
        assert!(capacity.try_hand_over(key("a"), 1).is_none(), "one waits now");
        drop(a1);
        // The notification is kept for the next waiter.
        tokio::time::timeout(std::time::Duration::from_secs(1), capacity.freed())
            .await
            .expect("woken");
    }
}
