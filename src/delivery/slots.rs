//! The worker's capacity: how many requests this process may have in flight, all targets
//! together (`delivery.max_in_flight`) and to each target (its DeliveryPolicy's
//! `MaxInFlight`). Every request holds a [`Slot`] from its start to its end, whether its
//! delivery was claimed from the queue or handed over by the ingest writers, so a target never
//! exceeds its cap: a slow destination holds only its own slots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A target: (DeliveryConfig ID, target kind).
pub(crate) type TargetKey = (String, String);

pub(crate) struct Capacity {
    slots: Arc<Semaphore>,
    /// Requests in flight to each target that has any.
    load: Mutex<HashMap<TargetKey, u32>>,
    /// A slot came free that a claim may be waiting for: the last one of the process, or one
    /// of a target that was at its cap.
    freed: Notify,
}

/// One request's place; dropping it frees the place.
pub(crate) struct Slot {
    capacity: Arc<Capacity>,
    key: TargetKey,
    max: u32,
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

    fn load(&self) -> std::sync::MutexGuard<'_, HashMap<TargetKey, u32>> {
        self.load.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Free places, all targets together.
    pub(crate) fn free(&self) -> usize {
        self.slots.available_permits()
    }

    /// Requests in flight to each target that has any.
    pub(crate) fn in_flight(&self) -> Vec<(TargetKey, u32)> {
        self.load().iter().map(|(key, n)| (key.clone(), *n)).collect()
    }

    /// A slot for one request to `key`, if the process and the target (at most `max` at once)
    /// both have room now.
    pub(crate) fn try_reserve(self: &Arc<Self>, key: TargetKey, max: u32) -> Option<Slot> {
        let mut load = self.load();
        let requests = load.get(&key).copied().unwrap_or(0);
        if requests >= max {
            return None;
        }
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        load.insert(key.clone(), requests + 1);
        Some(Slot {
            capacity: self.clone(),
            key,
            max,
            _permit: permit,
        })
    }

    /// Waits until a claim may find room that it did not find before.
    pub(crate) async fn freed(&self) {
        self.freed.notified().await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let was_full = {
            let mut load = self.capacity.load();
            let requests = load.get(&self.key).copied().unwrap_or(0);
            if requests <= 1 {
                load.remove(&self.key);
            } else {
                load.insert(self.key.clone(), requests - 1);
            }
            requests >= self.max || self.capacity.slots.available_permits() == 0
        };
        // The permit is released after this, when the fields drop; a claim woken now finds
        // the target's count already lowered, and at worst one place fewer than there is.
        if was_full {
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
        assert_eq!(capacity.in_flight(), vec![(key("a"), 2)]);
        drop(a1);
        assert_eq!(capacity.in_flight(), vec![(key("a"), 1)]);
        drop(a2);
        assert!(capacity.in_flight().is_empty());
        assert_eq!(capacity.free(), 10);
    }

    #[tokio::test]
    async fn a_slot_freed_at_the_cap_wakes_a_waiting_claim() {
        let capacity = Capacity::new(10);
        let only = capacity.try_reserve(key("a"), 1).unwrap();
        drop(only);
        // The notification is kept for the next waiter.
        tokio::time::timeout(std::time::Duration::from_secs(1), capacity.freed())
            .await
            .expect("woken");
    }
}
