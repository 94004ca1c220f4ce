//! Handing accepted deliveries straight to this process's delivery workers. A delivery they
//! have room for is stored already leased to them, its first attempt begun, and is handed over
//! with its payload once its batch committed: it is never claimed from the queue, which saves
//! the claim's statement, reading the payload back and the NOTIFY. Should the process die
//! before the attempt is recorded, the lease runs out and any worker claims the delivery as it
//! would any other: nothing accepted is lost. A delivery the workers have no room for (its
//! target at its `MaxInFlight`, or the process at `delivery.max_in_flight`) is queued without
//! a notification: the place that comes free next wakes these workers, and those of other
//! instances find it when they next poll (`delivery.poll_interval_ms`). Waking them all for a
//! target that is already as busy as its cap allows made every batch cost a claim in vain.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sqlx::types::Json;

use super::NewDelivery;
use crate::domain::targets::TargetKind;
use crate::storage::deliveries::{Claimed, ConfigNow};

/// This process's running delivery workers, as the ingest writers see them.
pub trait Handoff: Send + Sync {
    /// Whether the workers are running (they take nothing before they start or once stopping).
    fn running(&self) -> bool;

    /// How long a handed-over delivery stays leased before others may claim it.
    fn lease(&self) -> Duration;

    /// A place for one request to `target` of the DeliveryConfig `config`, if the workers have
    /// one free now. Dropping it gives it back.
    fn reserve(&self, config: &ConfigNow, target: TargetKind) -> Option<Place>;

    /// Starts attempts at committed deliveries, each in the place reserved for it.
    fn start(&self, deliveries: Vec<HandedOver>);
}

/// A place reserved with the workers; what it holds is theirs.
pub type Place = Box<dyn Send + Sync>;

/// A delivery stored as leased, with what its first attempt needs.
pub struct HandedOver {
    pub delivery: Claimed,
    pub config: Arc<ConfigNow>,
    pub place: Place,
}

/// A new delivery's lease, when the workers took it at once.
pub(crate) struct Leased {
    pub until: DateTime<Utc>,
    pub config: Arc<ConfigNow>,
    pub place: Place,
}

/// Reserves a place for each delivery that can be sent (its target not disabled), as far as
/// the workers have room, leased until `until`.
pub(super) fn reserve(
    handoff: &dyn Handoff,
    deliveries: &mut [NewDelivery],
    config: &Arc<ConfigNow>,
    until: DateTime<Utc>,
) {
    for delivery in deliveries.iter_mut().filter(|d| d.disabled.is_none()) {
        delivery.leased = handoff.reserve(config, delivery.target).map(|place| Leased {
            until,
            config: config.clone(),
            place,
        });
    }
}

/// The leased deliveries of a committed event, ready to start. The payload is shared by the
/// event's deliveries: cloned for all but the last.
pub(super) fn handed_over(
    event_id: &str,
    event_type: &str,
    payload: serde_json::Value,
    deliveries: Vec<NewDelivery>,
) -> Vec<HandedOver> {
    let leased: Vec<(NewDelivery, Leased)> = deliveries
        .into_iter()
        .filter_map(|mut d| d.leased.take().map(|l| (d, l)))
        .collect();
    let count = leased.len();
    let mut payload = Some(payload);
    leased
        .into_iter()
        .enumerate()
        .map(|(i, (delivery, lease))| {
            let payload = if i + 1 == count {
                payload.take()
            } else {
                payload.clone()
            };
            HandedOver {
                delivery: Claimed {
                    id: delivery.id,
                    event_id: event_id.to_owned(),
                    event_type: event_type.to_owned(),
                    tracking_event_id: delivery.tracking_event_id,
                    delivery_config_id: delivery.delivery_config_id,
                    target: delivery.target.as_str().to_owned(),
                    tracking_event: Json(delivery.tracking_event),
                    attempts: 1,
                    payload: Json(payload.unwrap_or_default()),
                },
                config: lease.config,
                place: lease.place,
            }
        })
        .collect()
}
