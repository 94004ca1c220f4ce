//! The capacity's unit tests: caps per target and per process, waiting queues and breakers.

use super::*;

/// The Http target of DeliveryConfig `config`.
fn key(config: &str) -> TargetKey {
    TargetKey::new(config, crate::domain::targets::TargetKind::Http)
}

const BREAKER: BreakerPolicy = BreakerPolicy {
    failures: 2,
    open_for: std::time::Duration::from_secs(5),
    max_open_for: std::time::Duration::from_secs(60),
};

fn capacity(max_in_flight: usize) -> Arc<Capacity> {
    Capacity::new(max_in_flight, BREAKER)
}

/// Whether the claim is woken within `within` (under paused time, at once if ever).
async fn woken(capacity: &Capacity, within: std::time::Duration) -> bool {
    tokio::time::timeout(within, capacity.freed()).await.is_ok()
}

/// Opens `target`'s breaker: as many attempts in a row as it takes find it down.
fn open_breaker(capacity: &Capacity, target: &str) {
    for _ in 0..BREAKER.failures {
        capacity.observe(&key(target), Health::Down, Instant::now());
    }
}

const SOON: std::time::Duration = std::time::Duration::from_millis(50);
const AT_ONCE: std::time::Duration = std::time::Duration::from_secs(1);

#[test]
fn a_target_gets_at_most_its_cap_and_the_process_at_most_its_own() {
    let capacity = capacity(3);
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
    let capacity = capacity(10);
    let a1 = capacity.try_reserve(key("a"), 5).unwrap();
    let a2 = capacity.try_reserve(key("a"), 5).unwrap();
    assert_eq!(capacity.claim_view().in_flight, HashMap::from([(key("a"), 2)]));
    drop(a1);
    assert_eq!(capacity.claim_view().in_flight, HashMap::from([(key("a"), 1)]));
    drop(a2);
    assert!(capacity.claim_view().in_flight.is_empty());
    assert_eq!(capacity.free(), 10);
}

#[test]
fn a_target_without_room_gets_no_handovers_until_its_queue_is_taken() {
    let capacity = capacity(10);
    let a1 = capacity.try_hand_over(key("a"), 1).unwrap();
    assert!(capacity.try_hand_over(key("a"), 1).is_none(), "at its cap: queued");
    drop(a1);
    assert!(capacity.try_hand_over(key("a"), 1).is_none(), "behind the queued one");
    assert!(
        capacity.try_hand_over(key("b"), 1).is_some(),
        "other targets are not held up"
    );
    let ClaimView { waiting, seen, .. } = capacity.claim_view();
    assert_eq!(waiting, vec![(key("a"), 1)]);
    capacity.drained(&key("a"), seen);
    assert!(capacity.try_hand_over(key("a"), 1).is_some(), "its queue was drained");
}

#[test]
fn a_refusal_during_a_claim_keeps_the_target_waiting() {
    let capacity = capacity(10);
    let a1 = capacity.try_hand_over(key("a"), 1).unwrap();
    let seen = capacity.claim_view().seen;
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
    let capacity = capacity(10);
    let seen = capacity.claim_view().seen;
    capacity.queued(key("a"), 4);
    capacity.drained(&key("a"), seen);
    assert!(capacity.try_hand_over(key("a"), 4).is_none(), "still behind its queue");
}

#[tokio::test]
async fn deliveries_queued_with_nothing_in_flight_wake_the_claim() {
    let capacity = capacity(10);
    capacity.queued(key("a"), 4);
    assert!(woken(&capacity, AT_ONCE).await, "woken");
}

#[tokio::test(start_paused = true)]
async fn a_slot_freed_while_deliveries_wait_wakes_the_claim() {
    let capacity = capacity(10);
    let a1 = capacity.try_reserve(key("a"), 2).unwrap();
    drop(a1);
    assert!(!woken(&capacity, SOON).await, "nothing waits: no wake");
    let a1 = capacity.try_reserve(key("a"), 1).unwrap();
    assert!(capacity.try_hand_over(key("a"), 1).is_none(), "one waits now");
    drop(a1);
    // The notification is kept for the next waiter.
    assert!(woken(&capacity, AT_ONCE).await, "woken");
}

#[tokio::test(start_paused = true)]
async fn a_freed_place_of_another_target_wakes_no_claim_while_the_process_has_room() {
    let capacity = capacity(10);
    let _busy = capacity.try_reserve(key("busy"), 1).unwrap();
    assert!(capacity.try_hand_over(key("busy"), 1).is_none(), "busy waits for room");
    let other = capacity.try_reserve(key("other"), 5).unwrap();
    drop(other);
    assert!(!woken(&capacity, SOON).await, "busy gains nothing from other's place");
}

#[tokio::test]
async fn a_freed_place_wakes_the_claim_when_the_process_was_full() {
    let capacity = capacity(2);
    let _busy = capacity.try_reserve(key("busy"), 1).unwrap();
    let other = capacity.try_reserve(key("other"), 5).unwrap();
    assert!(capacity.try_hand_over(key("third"), 5).is_none(), "the process is full");
    drop(other);
    assert!(woken(&capacity, AT_ONCE).await, "third may take the place");
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_takes_the_targets_room_then_lets_one_probe_through() {
    let capacity = capacity(10);
    capacity.observe(&key("down"), Health::Down, Instant::now());
    assert!(capacity.claim_view().limits.is_empty(), "one failure is not enough");
    capacity.observe(&key("down"), Health::Down, Instant::now());
    assert_eq!(capacity.claim_view().limits, HashMap::from([(key("down"), 0)]));
    assert!(
        capacity.try_hand_over(key("down"), 5).is_none(),
        "open: nothing is sent"
    );
    assert_eq!(capacity.claim_view().waiting, vec![(key("down"), 0)]);
    assert!(
        capacity.try_reserve(key("up"), 5).is_some(),
        "other targets are left alone"
    );

    tokio::time::advance(BREAKER.open_for).await;
    assert_eq!(capacity.claim_view().limits, HashMap::from([(key("down"), 1)]));
    let probe = capacity.try_reserve(key("down"), 5).expect("half-open: one probe");
    assert!(capacity.try_reserve(key("down"), 5).is_none(), "only one");
    capacity.observe(&key("down"), Health::Up, Instant::now());
    assert!(capacity.claim_view().limits.is_empty(), "closed again");
    assert!(
        woken(&capacity, AT_ONCE).await,
        "closing wakes the claim to drain the queue"
    );
    drop(probe);
    assert!(capacity.try_reserve(key("down"), 5).is_some());
}

#[tokio::test]
async fn deliveries_queued_for_a_target_with_nothing_in_flight_wake_the_claim_though_others_are_busy() {
    let capacity = capacity(10);
    let _other = capacity.try_reserve(key("other"), 5).unwrap();
    capacity.queued(key("a"), 4);
    assert!(woken(&capacity, AT_ONCE).await, "no request of a's will end to wake it");
}

#[tokio::test(start_paused = true)]
async fn a_request_ending_while_its_breaker_is_open_wakes_no_claim() {
    let capacity = capacity(10);
    let old = capacity.try_reserve(key("down"), 5).unwrap();
    open_breaker(&capacity, "down");
    assert!(capacity.try_hand_over(key("down"), 5).is_none(), "open: waits");
    assert!(capacity.next_probe().is_some());
    drop(old);
    assert!(
        !woken(&capacity, SOON).await,
        "its place is no use while the breaker is open"
    );
}

#[tokio::test(start_paused = true)]
async fn deliveries_queued_behind_an_open_breaker_wake_no_claim() {
    let capacity = capacity(10);
    open_breaker(&capacity, "down");
    capacity.queued(key("down"), 5);
    assert!(!woken(&capacity, SOON).await, "a claim could take none of them");
}
