//! Handing accepted deliveries straight to this process's delivery workers. A delivery they
//! have room for is stored already leased to them, its first attempt begun, and is handed over
//! with its payload once its batch committed: it is never claimed from the queue, which saves
//! the claim's statement, reading the payload back and the NOTIFY. Should the process die
//! before the attempt is recorded, the lease runs out and any worker claims the delivery as it
//! would any other: nothing accepted is lost. A delivery the workers have no room for (its
//! target at its `MaxInFlight`, rate-limited or its circuit breaker open, or the process at
//! `delivery.max_in_flight`) is queued, and the target's later deliveries line up behind it
//! until these workers, woken by the places that come free for it (or its breaker closing),
//! have claimed its queue. It is queued without a notification: those of other
//! instances find it when they next poll (`delivery.poll_interval_ms`). Waking them all for a
//! target that is already as busy as its cap allows made every batch cost a claim in vain.
//! Deliveries to an `Ordered` target are never handed over (only a claim knows whether the
//! shopper's earlier ones are done): they are queued with a notification.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::domain::targets::TargetKind;
use crate::storage::deliveries::Claimed;
use crate::storage::delivery_configs::ConfigNow;
use crate::storage::ingest::NewDelivery;

/// This process's running delivery workers, as the ingest writers see them.
pub trait Handoff: Send + Sync {
    /// Whether the workers are running (they take nothing before they start or once stopping).
    fn running(&self) -> bool;

    /// How long a handed-over delivery stays leased before others may claim it.
    fn lease(&self) -> Duration;

    /// A place for one request to `target` of the DeliveryConfig `config`, if the workers have
    /// one free now. Dropping it gives it back.
    fn reserve(&self, config: &ConfigNow, target: TargetKind) -> Option<Place>;

    /// Takes a committed batch's deliveries: starts attempts at those handed over, each in
    /// the place reserved for it, and notes the targets of those queued for want of room (a
    /// place coming free wakes the workers to claim them).
    fn committed(&self, handed_over: Vec<HandedOver>, queued: Vec<Queued>);
}

/// A place reserved with the workers; what it holds is theirs.
pub type Place = Box<dyn Send + Sync>;

/// A delivery stored as leased, with what its first attempt needs.
pub struct HandedOver {
    pub delivery: Claimed,
    pub config: Arc<ConfigNow>,
    pub place: Place,
}

/// A delivery queued because the workers had no room for it.
pub struct Queued {
    pub config: Arc<ConfigNow>,
    pub target: TargetKind,
}

/// What the running workers made of a new delivery.
pub(super) enum Taken {
    /// Leased to them (its `leased_until` set), to be handed over once committed.
    Leased { config: Arc<ConfigNow>, place: Place },
    /// Queued: they had no room.
    NoRoom(Arc<ConfigNow>),
}

/// Reserves a place for each delivery that can be sent (its target not disabled), as far as
/// the workers have room, leased until `until`; returns what the workers made of each.
pub(super) fn reserve(
    handoff: &dyn Handoff,
    deliveries: &mut [NewDelivery],
    config: &Arc<ConfigNow>,
    until: DateTime<Utc>,
) -> Vec<Option<Taken>> {
    let mut taken = Vec::with_capacity(deliveries.len());
    for delivery in deliveries.iter_mut() {
        if delivery.disabled.is_some() {
            taken.push(None);
            continue;
        }
        // A rate-limited target's deliveries are taken from the queue only, where its tokens
        // are counted across instances; an ordered one's too, where a claim sees whether the
        // shopper's earlier deliveries are done.
        let queue_only = config.policy.rate_limit_per_second.is_some() || delivery.shopper.is_some();
        let place = if queue_only {
            None
        } else {
            handoff.reserve(config, delivery.target)
        };
        taken.push(Some(match place {
            Some(place) => {
                delivery.leased_until = Some(until);
                Taken::Leased {
                    config: config.clone(),
                    place,
                }
            }
            None => Taken::NoRoom(config.clone()),
        }));
    }
    taken
}

/// A committed event's deliveries as the workers took them: those handed over, ready to
/// start, are returned; those queued for want of room are added to `queued`.
pub(super) fn taken(
    event_id: &str,
    event_type: &str,
    payload: Value,
    deliveries: impl Iterator<Item = (NewDelivery, Option<Taken>)>,
    queued: &mut Vec<Queued>,
) -> Vec<HandedOver> {
    let mut over = Vec::new();
    for (delivery, taken) in deliveries {
        match taken {
            Some(Taken::Leased { config, place }) => over.push(HandedOver {
                delivery: Claimed {
                    id: delivery.id,
                    event_id: event_id.to_owned(),
                    event_type: event_type.to_owned(),
                    tracking_event_id: delivery.tracking_event_id,
                    delivery_config_id: delivery.delivery_config_id,
                    target: delivery.target,
                    tracking_event: Json(delivery.tracking_event),
                    attempts: 1,
                    payload: Json(Value::Null),
                    holds_shopper: false,
                },
                config,
                place,
            }),
            Some(Taken::NoRoom(config)) => queued.push(Queued {
                config,
                target: delivery.target,
            }),
            None => {}
        }
    }
    // The event's deliveries share its payload: cloned for all but the last.
    if let Some((last, others)) = over.split_last_mut() {
        for other in others {
            other.delivery.payload = Json(payload.clone());
        }
        last.delivery.payload = Json(payload);
    }
    over
}
