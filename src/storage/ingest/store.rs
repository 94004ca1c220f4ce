//! Storing accepted events and their deliveries, with the entities their triggers carried: one
//! statement for a whole batch.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::CHANNEL;
use crate::domain::delivery::{DeliveryId, DeliveryStatus};
use crate::domain::targets::{DeliveryTargetsDoc, TargetKind};
use crate::storage::delivery_configs::disabled_reason;
use crate::storage::entities::Writes;
use crate::storage::params::{column, Params, Placeholder};

/// A delivery to create.
pub(crate) struct NewDelivery {
    pub id: DeliveryId,
    pub tracking_event_id: String,
    pub delivery_config_id: String,
    pub target: TargetKind,
    pub tracking_event: Value,
    /// Set when the target is disabled: the delivery is recorded as failed with this reason.
    pub disabled: Option<String>,
    /// Until when this process's running workers hold it, when they took it at once: it is
    /// then stored leased to them, its first attempt begun.
    pub leased_until: Option<DateTime<Utc>>,
    /// The key of the shopper it is about, when its target is `Ordered`: it then waits for
    /// the shopper's earlier deliveries to that target ([`crate::storage::deliveries::claim`]).
    pub shopper: Option<i64>,
}

impl NewDelivery {
    /// One delivery for each target of a DeliveryConfig (`targets`, with the targets switched
    /// off in `disabled`), on behalf of `tracking_event` ({ID, Name, ConfigData}).
    pub(crate) fn per_target(
        tracking_event_id: &str,
        delivery_config_id: &str,
        tracking_event: &Value,
        targets: &DeliveryTargetsDoc,
        disabled: &Map<String, Value>,
    ) -> Vec<NewDelivery> {
        targets
            .kinds()
            .into_iter()
            .map(|target| NewDelivery {
                id: DeliveryId::new(),
                tracking_event_id: tracking_event_id.to_owned(),
                delivery_config_id: delivery_config_id.to_owned(),
                target,
                tracking_event: tracking_event.clone(),
                disabled: disabled_reason(disabled, target),
                leased_until: None,
                shopper: None,
            })
            .collect()
    }
}

/// An event to store.
pub(crate) struct NewEvent<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub client_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
    pub payload: &'a Value,
    /// The 202 body, returned again to a repeat of the same idempotency key.
    pub response: &'a Value,
    pub occurred_at: DateTime<Utc>,
}

/// Makes a batch's entity writes ([`Writes::ctes`]) and stores its events and their deliveries,
/// in one statement, and, when any delivery is due and `wake` says so, or any is to an
/// `Ordered` target (claimed from the queue only), notifies the workers (on commit). A delivery
/// the workers took at once is stored leased to them, its first attempt begun (attempt 1, due
/// again when the lease runs out). An idempotency key already taken fails the whole statement:
/// nothing of the batch is kept.
pub(crate) async fn store<'a>(
    conn: &mut PgConnection,
    writes: &Writes<'_>,
    events: &[(NewEvent<'a>, &[NewDelivery])],
    now: DateTime<Utc>,
    wake: bool,
) -> Result<(), sqlx::Error> {
    let (sql, params) = statement(writes, events, now, wake)?;
    sqlx::query_with(&sql, params.into_arguments()).execute(conn).await?;
    Ok(())
}

/// The statement [`store`] runs and its parameters. Like [`Writes::ctes`], its text is the
/// same for every batch and made anew for each.
fn statement(
    writes: &Writes<'_>,
    events: &[(NewEvent<'_>, &[NewDelivery])],
    now: DateTime<Utc>,
    wake: bool,
) -> Result<(String, Params), sqlx::Error> {
    let deliveries: Vec<DeliveryRow> = events
        .iter()
        .enumerate()
        .flat_map(|(position, (e, ds))| {
            ds.iter().map(move |delivery| DeliveryRow {
                event_id: e.id,
                position: position as i64,
                delivery,
            })
        })
        .collect();
    let notify = deliveries.iter().any(|q| {
        let d = q.delivery;
        d.disabled.is_none() && d.leased_until.is_none() && (wake || d.shopper.is_some())
    });
    let mut params = Params::default();
    let writes = writes.ctes(&mut params)?;
    let now = params.bind(now)?;
    let events = insert_events(&mut params, events, now)?;
    let deliveries = insert_deliveries(&mut params, &deliveries, now)?;
    let channel = params.bind(CHANNEL)?;
    let notify = params.bind(notify)?;
    let sql = format!("WITH\n{writes},\n{events},\n{deliveries}\nSELECT pg_notify({channel}, '') WHERE {notify}");
    Ok((sql, params))
}

/// The events, received at `now`.
fn insert_events(
    params: &mut Params,
    events: &[(NewEvent<'_>, &[NewDelivery])],
    now: Placeholder,
) -> Result<String, sqlx::Error> {
    let ids = params.bind(column(events, |(e, _)| e.id))?;
    let event_types = params.bind(column(events, |(e, _)| e.event_type))?;
    let client_ids = params.bind(column(events, |(e, _)| e.client_id))?;
    let idempotency_keys = params.bind(column(events, |(e, _)| e.idempotency_key))?;
    let user_ids = params.bind(column(events, |(e, _)| e.user_id))?;
    let anonymous_ids = params.bind(column(events, |(e, _)| e.anonymous_id))?;
    let payloads = params.bind(column(events, |(e, _)| e.payload.to_string()))?;
    let responses = params.bind(column(events, |(e, _)| e.response.to_string()))?;
    let occurred_at = params.bind(column(events, |(e, _)| e.occurred_at))?;
    Ok(format!(
        "\
event AS (
    INSERT INTO events (id, event_type, client_id, idempotency_key, user_id, anonymous_id, payload, response,
                        occurred_at, received_at)
    SELECT t.*, {now}
    FROM unnest({ids}::text[], {event_types}::text[], {client_ids}::text[], {idempotency_keys}::text[],
                {user_ids}::text[], {anonymous_ids}::text[], {payloads}::json[], {responses}::json[],
                {occurred_at}::timestamptz[]) AS t)"
    ))
}

/// A delivery to store, with its event's ID and the event's place in the batch.
struct DeliveryRow<'a> {
    event_id: &'a str,
    position: i64,
    delivery: &'a NewDelivery,
}

/// Each delivery with its event's ID, created at `now`: failed at once when its target is
/// disabled, else pending, and leased with its first attempt begun when the workers took it.
/// One about a shopper (to an `Ordered` target) takes its place after the shopper's earlier
/// ones: the batch's number, drawn once (only by a batch that has such a delivery) while the
/// batch holds the shopper's lock, then its event's place in the batch (up to
/// `ingest.max_batch`, 1,000, well within 2^20).
fn insert_deliveries(
    params: &mut Params,
    deliveries: &[DeliveryRow<'_>],
    now: Placeholder,
) -> Result<String, sqlx::Error> {
    let status = |d: &NewDelivery| match d.disabled {
        Some(_) => DeliveryStatus::Failed.as_str(),
        None => DeliveryStatus::Pending.as_str(),
    };
    let ids = params.bind(column(deliveries, |q| q.delivery.id.as_str()))?;
    let event_ids = params.bind(column(deliveries, |q| q.event_id))?;
    let tracking_event_ids = params.bind(column(deliveries, |q| q.delivery.tracking_event_id.as_str()))?;
    let config_ids = params.bind(column(deliveries, |q| q.delivery.delivery_config_id.as_str()))?;
    let targets = params.bind(column(deliveries, |q| q.delivery.target.as_str()))?;
    let snapshots = params.bind(column(deliveries, |q| q.delivery.tracking_event.to_string()))?;
    let statuses = params.bind(column(deliveries, |q| status(q.delivery)))?;
    let errors = params.bind(column(deliveries, |q| q.delivery.disabled.as_deref()))?;
    let leased = params.bind(column(deliveries, |q| q.delivery.leased_until))?;
    let shoppers = params.bind(column(deliveries, |q| q.delivery.shopper))?;
    let positions = params.bind(column(deliveries, |q| q.position))?;
    Ok(format!(
        "\
batch AS (
    SELECT nextval('delivery_batches') AS n),
delivery AS (
    INSERT INTO deliveries (id, event_id, tracking_event_id, delivery_config_id, target, tracking_event, status,
                            last_error, attempts, lease_until, next_attempt_at, created_at, updated_at, shopper, seq)
    SELECT t.id, t.event_id, te, dc, target, snapshot, status, error, CASE WHEN leased IS NULL THEN 0 ELSE 1 END,
           leased, coalesce(leased, {now}), {now}, {now}, shopper,
           CASE WHEN shopper IS NOT NULL THEN (SELECT n FROM batch) * 1048576 + position END
    FROM unnest({ids}::text[], {event_ids}::text[], {tracking_event_ids}::text[], {config_ids}::text[],
                {targets}::text[], {snapshots}::json[], {statuses}::text[], {errors}::text[],
                {leased}::timestamptz[], {shoppers}::bigint[], {positions}::bigint[])
         AS t(id, event_id, te, dc, target, snapshot, status, error, leased, shopper, position))"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::trigger::Entity;
    use crate::domain::ResourceId;

    #[test]
    fn the_statement_reads_the_same_whatever_the_batch_holds() -> Result<(), sqlx::Error> {
        let now = Utc::now();
        let product = Entity {
            id: ResourceId::parse("ID", "P1").unwrap(),
            doc: json!({"ID": "P1"}).as_object().cloned().unwrap_or_default(),
        };
        let writes = Writes {
            products: vec![&product, &product],
            ..Writes::default()
        };
        let payload = json!({"EventType": "ProductViewed"});
        let event = NewEvent {
            id: "evt_1",
            event_type: "ProductViewed",
            client_id: "storefront",
            idempotency_key: Some("k1"),
            user_id: None,
            anonymous_id: Some("beacon-1"),
            payload: &payload,
            response: &payload,
            occurred_at: now,
        };
        let delivery = NewDelivery {
            id: DeliveryId::new(),
            tracking_event_id: "te1".into(),
            delivery_config_id: "dc1".into(),
            target: TargetKind::Http,
            tracking_event: json!({"ID": "te1"}),
            disabled: None,
            leased_until: Some(now),
            shopper: Some(7),
        };
        let deliveries = [delivery];
        let (full, _) = statement(&writes, &[(event, &deliveries)], now, true)?;
        let (empty, _) = statement(&Writes::default(), &[], now, false)?;
        // sqlx caches prepared statements by their text: one text, one preparation.
        assert_eq!(full, empty);
        Ok(())
    }
}
