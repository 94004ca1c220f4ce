//! Accepting a batch of triggers, in a transaction that holds a lock on each shopper (order,
//! user, anonymous visitor) the batch is about, so that other instances accept that shopper's
//! triggers before or after it, never at the same time: each trigger's view of the store is
//! read, its payload hydrated and its deliveries listed, then the batch's entities, events and
//! deliveries are written in one statement ([`crate::storage::ingest`]); once committed, the
//! deliveries the workers have room for are handed to them ([`super::handoff`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use utoipa::ToSchema;

use super::handoff::{self, Handoff, Taken};
use crate::domain::delivery::DeliveryId;
use crate::domain::hydration::{self, MissingEntity, UserContext};
use crate::domain::targets::TargetKind;
use crate::domain::trigger::Trigger;
use crate::domain::EventType;
use crate::storage::entities::{Overlay, Writes};
use crate::storage::idempotency_key_taken;
use crate::storage::ingest::{self as statements, new_event_id, Match, NewDelivery, NewEvent, Read};

/// The 202 body of an accepted trigger.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerOut {
    /// The event's ID.
    #[serde(rename = "ID")]
    pub id: String,
    pub deliveries: Vec<DeliveryRef>,
    pub missing_entities: Vec<MissingEntity>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryRef {
    #[serde(rename = "ID")]
    #[schema(value_type = String)]
    pub id: DeliveryId,
    #[serde(rename = "TrackingEventID")]
    pub tracking_event_id: String,
    #[serde(rename = "DeliveryConfigID")]
    pub delivery_config_id: String,
    pub target: TargetKind,
}

/// An accepted trigger's response, and whether it is a replay of an earlier acceptance.
#[derive(Debug)]
pub struct Accepted {
    pub body: Value,
    pub replayed: bool,
}

/// A trigger's event, built from its view of the store, ready to be stored.
struct Prepared {
    event_id: String,
    payload: Value,
    /// The 202 body.
    body: Value,
    user: UserContext,
    deliveries: Vec<NewDelivery>,
    /// What this process's workers made of each delivery, in the same order.
    taken: Vec<Option<Taken>>,
}

/// Accepts `triggers` together, in one transaction holding the lock of every shopper they are
/// about ([`shoppers`]): a batch of another instance accepting triggers about one of them waits
/// until this one committed, then reads what it wrote. Within it, two statements whatever the
/// number of triggers: every trigger's view of the store, matching TrackingEvents and earlier
/// acceptance read, then the entities they carry written and the events and their deliveries
/// stored. Returns one acceptance per trigger, in order; the workers are handed their
/// deliveries once committed.
///
/// The triggers are applied in the order given, as if accepted one by one: each one's view
/// holds its own writes and those of the triggers before it, never a later one's, and the
/// store is left as the last write of each row leaves it ([`statements::view`]). So triggers
/// about the same order, user or visitor, or carrying different documents of one product, may
/// share a batch; two with the same idempotency key may not ([`super::batcher`] sees to it),
/// since the second must find the first's acceptance.
///
/// A trigger whose idempotency key is taken is answered with the first acceptance's response
/// and nothing of it is kept, not even its entities; the others are read again without it. A
/// key taken by another process between the read and the write fails the write, and the batch
/// is accepted again in a new transaction.
///
/// `conn` is the writer's own. After an error it may hold a transaction sqlx does not know of
/// (`BEGIN` ran, the locks failed): the caller must not use it again.
pub(super) async fn accept_together(
    conn: &mut PgConnection,
    triggers: &[&Trigger],
    now: DateTime<Utc>,
    handoff: Option<&dyn Handoff>,
) -> Result<Vec<Accepted>, sqlx::Error> {
    let lease = handoff.filter(|h| h.running()).map(|h| (h, now + h.lease()));
    // A repeated idempotency key is locked too, so that two instances accepting it at once
    // take turns and the second finds the first's acceptance on its read.
    let shoppers: Vec<String> = triggers
        .iter()
        .flat_map(|t| {
            let key = t.idempotency_key.as_ref().map(|k| format!("key/{}/{k}", t.client_id));
            shoppers(t).into_iter().chain(key)
        })
        .collect();
    let mut answers: Vec<Option<Accepted>> = triggers.iter().map(|_| None).collect();
    let stored = loop {
        let mut tx = conn.begin_with(statements::begin_locking(&shoppers)).await?;
        match store_pending(&mut tx, triggers, &mut answers, now, lease).await? {
            Some(stored) => {
                tx.commit().await?;
                break stored;
            }
            // The failed write ended the transaction; the repeat reads as one next time.
            None => tx.rollback().await?,
        }
    };
    if !stored.is_empty() {
        hand_over(triggers, stored, &mut answers, handoff);
    }
    Ok(answers.into_iter().flatten().collect())
}

/// Answers the committed triggers (`stored`, with their index) and hands the workers the
/// deliveries they took.
fn hand_over(
    triggers: &[&Trigger],
    stored: Vec<(usize, Prepared)>,
    answers: &mut [Option<Accepted>],
    handoff: Option<&dyn Handoff>,
) {
    let (mut over, mut queued) = (Vec::new(), Vec::new());
    for (i, p) in stored {
        let event_type = triggers[i].event_type.as_str();
        over.extend(handoff::taken(
            &p.event_id,
            event_type,
            p.payload,
            p.deliveries.into_iter().zip(p.taken),
            &mut queued,
        ));
        answers[i] = Some(Accepted {
            body: p.body,
            replayed: false,
        });
    }
    if let Some(handoff) = handoff {
        handoff.committed(over, queued);
    }
}

/// Within the batch's transaction, answers the triggers whose idempotency key was taken before
/// (in `answers`) and stores the others' events; returns those, with their index, for the
/// caller to answer once committed. None when an idempotency key was found taken on writing:
/// the transaction is then aborted.
async fn store_pending(
    conn: &mut PgConnection,
    triggers: &[&Trigger],
    answers: &mut [Option<Accepted>],
    now: DateTime<Utc>,
    lease: Option<(&dyn Handoff, DateTime<Utc>)>,
) -> Result<Option<Vec<(usize, Prepared)>>, sqlx::Error> {
    loop {
        let pending: Vec<usize> = (0..triggers.len()).filter(|&i| answers[i].is_none()).collect();
        if pending.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let batch: Vec<&Trigger> = pending.iter().map(|&i| triggers[i]).collect();
        let writes: Vec<Writes> = batch.iter().map(|t| carried_entities(t)).collect();
        let mut stored = statements::read(conn, &batch, &writes).await?;
        let mut replayed = false;
        for (&i, stored) in pending.iter().zip(&mut stored) {
            if let Some(body) = stored.take_replay() {
                answers[i] = Some(Accepted { body, replayed: true });
                replayed = true;
            }
        }
        if replayed {
            // The rest were read with the repeats' writes, which are not made.
            continue;
        }
        // Each trigger's view, in arrival order, adds its writes to the batch's.
        let mut applied = Overlay::default();
        let prepared = batch
            .iter()
            .zip(stored)
            .zip(&writes)
            .map(|((trigger, stored), own)| {
                let read = statements::view(trigger, stored, own, &mut applied);
                prepare(trigger, read, now, lease)
            })
            .collect::<Vec<_>>();
        let events: Vec<_> = batch
            .iter()
            .zip(&prepared)
            .map(|(trigger, p)| (new_event(trigger, p, now), p.deliveries.as_slice()))
            .collect();
        // Running workers had no room for the deliveries they did not take; a place coming
        // free wakes them, so a notification would only make them look in vain.
        return match statements::store(conn, &applied.writes(), &events, now, lease.is_none()).await {
            Ok(()) => Ok(Some(pending.into_iter().zip(prepared).collect())),
            Err(err) if idempotency_key_taken(&err) => Ok(None),
            Err(err) => Err(err),
        };
    }
}

/// The shoppers a trigger is about, as lock names: its order, the users it names (the order's
/// among them) and its anonymous ID. Their triggers apply one after another, in arrival order:
/// within a batch through its overlay, across batches because a batch in flight holds them
/// ([`super::batcher`]) and each batch's transaction holds their locks.
pub(super) fn shoppers(trigger: &Trigger) -> Vec<String> {
    let orders = trigger.order_id.iter().chain(trigger.order.iter().map(|o| &o.id));
    let users = trigger
        .user_id
        .iter()
        .cloned()
        .chain(trigger.user.iter().map(|u| u.id.clone()))
        .chain(trigger.order.iter().filter_map(|o| o.reference("FromUserID")));
    orders
        .map(|id| format!("order/{id}"))
        .chain(users.map(|id| format!("user/{id}")))
        .chain(trigger.anonymous_id.iter().map(|id| format!("anonymous/{id}")))
        .collect()
}

/// The shopper whose deliveries to an `Ordered` target go one at a time, as a lock name: the
/// user the trigger names (its `UserID`, `User` or order's `FromUserID`), else its anonymous ID,
/// else its order. One of [`shoppers`]: the batch holds its lock while its deliveries take their
/// places, so a later batch about the shopper places its own after them.
fn ordered_by(trigger: &Trigger) -> Option<String> {
    let shoppers = shoppers(trigger);
    ["user/", "anonymous/", "order/"]
        .into_iter()
        .find_map(|kind| shoppers.iter().find(|name| name.starts_with(kind)).cloned())
}

/// The entities a trigger carries, to be written.
fn carried_entities(trigger: &Trigger) -> Writes<'_> {
    let mut writes = Writes::default();
    writes.users.extend(trigger.user.iter());
    writes.products.extend(trigger.products.iter());
    if let Some(order) = &trigger.order {
        let user = order.reference("FromUserID").or_else(|| trigger.user_id.clone());
        writes.orders.push((order, user));
    }
    if let Some(order_id) = &trigger.order_id {
        let removed = trigger.event_type == EventType::LineItemRemoved;
        writes.line_items.extend(
            trigger
                .line_items
                .iter()
                .chain(trigger.line_item.iter().filter(|_| !removed))
                .map(|item| (order_id, item)),
        );
        if let (true, Some(id)) = (removed, &trigger.line_item_id) {
            writes.remove_line_items.push((order_id, id));
        }
    }
    if let (EventType::UserLoggedIn, Some(anonymous), Some(user)) =
        (trigger.event_type, &trigger.anonymous_id, &trigger.user_id)
    {
        writes.identities.push((anonymous, user));
    }
    writes
}

/// Hydrates a trigger's payload from its view and lists the deliveries it makes, leased to
/// the workers until the given time as far as they have room.
fn prepare(
    trigger: &Trigger,
    read: Read,
    now: DateTime<Utc>,
    lease: Option<(&dyn Handoff, DateTime<Utc>)>,
) -> Prepared {
    let event_id = new_event_id();
    let (payload, missing) = hydration::hydrate(&event_id, trigger, now, &read.snapshot, &read.user);
    // Only deliveries to an ordered target need their shopper's key.
    let ordered = read.matches.iter().any(|m| m.policy.ordered == Some(true));
    let shopper = ordered
        .then(|| ordered_by(trigger))
        .flatten()
        .map(|name| statements::lock_key(&name));
    let (deliveries, taken) = new_deliveries(read.matches, shopper, lease);
    let out = TriggerOut {
        id: event_id.clone(),
        deliveries: deliveries
            .iter()
            .map(|d| DeliveryRef {
                id: d.id.clone(),
                tracking_event_id: d.tracking_event_id.clone(),
                delivery_config_id: d.delivery_config_id.clone(),
                target: d.target,
            })
            .collect(),
        missing_entities: missing,
    };
    // Strings, lists and unit enums only: serialising cannot fail.
    let body = serde_json::to_value(&out).expect("a TriggerOut serialises");
    Prepared {
        event_id,
        payload,
        body,
        user: read.user,
        deliveries,
        taken,
    }
}

fn new_event<'a>(trigger: &'a Trigger, prepared: &'a Prepared, now: DateTime<Utc>) -> NewEvent<'a> {
    NewEvent {
        id: &prepared.event_id,
        event_type: trigger.event_type.as_str(),
        client_id: trigger.client_id.as_str(),
        idempotency_key: trigger.idempotency_key.as_deref(),
        user_id: prepared.user.id.as_deref(),
        anonymous_id: prepared.user.anonymous_id.as_deref(),
        payload: &prepared.payload,
        response: &prepared.body,
        occurred_at: trigger.occurred_at.unwrap_or(now),
    }
}

/// One delivery per matching TrackingEvent and target of its DeliveryConfig, about `shopper`
/// where the config is `Ordered`, and what the running workers (if any) made of each.
fn new_deliveries(
    matches: Vec<Match>,
    shopper: Option<i64>,
    lease: Option<(&dyn Handoff, DateTime<Utc>)>,
) -> (Vec<NewDelivery>, Vec<Option<Taken>>) {
    let (mut all, mut taken) = (Vec::new(), Vec::new());
    for m in matches {
        let tracking_event = json!({"ID": m.id, "Name": m.name, "ConfigData": m.config_data});
        let mut deliveries = NewDelivery::per_target(
            &m.id,
            &m.delivery_config_id,
            &tracking_event,
            &m.targets,
            &m.disabled_targets,
        );
        if m.policy.ordered == Some(true) {
            for delivery in &mut deliveries {
                delivery.shopper = shopper;
            }
        }
        match lease {
            Some((handoff, until)) => {
                taken.extend(handoff::reserve(
                    handoff,
                    &mut deliveries,
                    &Arc::new(m.into_config()),
                    until,
                ));
            }
            None => taken.extend(deliveries.iter().map(|_| None)),
        }
        all.extend(deliveries);
    }
    (all, taken)
}
