//! Storing accepted events and their deliveries, with the entities their triggers carried: one
//! statement for a whole batch.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::{new_delivery_id, CHANNEL};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::targets::{DeliveryTargetsDoc, TargetKind};
use crate::storage::add;
use crate::storage::delivery_configs::disabled_reason;
use crate::storage::entities::{Writes, WRITE_CTES};

/// A delivery to create.
pub(crate) struct NewDelivery {
    pub id: String,
    pub tracking_event_id: String,
    pub delivery_config_id: String,
    pub target: TargetKind,
    pub tracking_event: Value,
    /// Set when the target is disabled: the delivery is recorded as failed with this reason.
    pub disabled: Option<String>,
    /// Until when this process's running workers hold it, when they took it at once: it is
    /// then stored leased to them, its first attempt begun.
    pub leased_until: Option<DateTime<Utc>>,
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
                id: new_delivery_id(),
                tracking_event_id: tracking_event_id.to_owned(),
                delivery_config_id: delivery_config_id.to_owned(),
                target,
                tracking_event: tracking_event.clone(),
                disabled: disabled_reason(disabled, target),
                leased_until: None,
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

/// Makes a batch's entity writes ($1 to $15, [`WRITE_CTES`]) and stores its events and their
/// deliveries, in one statement, and, when any delivery is due and `$35` says so, notifies the
/// workers (on commit). A delivery the workers took at once is stored leased to them, its first
/// attempt begun (attempt 1, due again when the lease runs out). An idempotency key already
/// taken fails the whole statement: nothing of the batch is kept.
static STORE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {WRITE_CTES},
event AS (
    INSERT INTO events (id, event_type, client_id, idempotency_key, user_id, anonymous_id, payload, response,
                        occurred_at, received_at)
    SELECT t.*, $25 FROM unnest($16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[],
                                $22::json[], $23::json[], $24::timestamptz[]) AS t),
delivery AS (
    INSERT INTO deliveries (id, event_id, tracking_event_id, delivery_config_id, target, tracking_event, status,
                            last_error, attempts, lease_until, next_attempt_at, created_at, updated_at)
    SELECT t.id, t.event_id, te, dc, target, snapshot, status, error, CASE WHEN leased IS NULL THEN 0 ELSE 1 END,
           leased, coalesce(leased, $25), $25, $25
    FROM unnest($26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::json[], $32::text[],
                $33::text[], $36::timestamptz[]) AS t(id, event_id, te, dc, target, snapshot, status, error, leased))
SELECT pg_notify($34, '') WHERE $35"
    )
});

/// Stores events and their deliveries in one statement, with `writes` (see [`STORE_SQL`]).
pub(crate) async fn store<'a>(
    conn: &mut PgConnection,
    writes: &Writes<'_>,
    events: &[(NewEvent<'a>, &[NewDelivery])],
    now: DateTime<Utc>,
    wake: bool,
) -> Result<(), sqlx::Error> {
    let event_column =
        |column: fn(&NewEvent<'a>) -> Option<&'a str>| events.iter().map(|(e, _)| column(e)).collect::<Vec<_>>();
    let deliveries: Vec<(&str, &NewDelivery)> = events
        .iter()
        .flat_map(|(e, ds)| ds.iter().map(move |d| (e.id, d)))
        .collect();
    let delivery_column =
        |column: fn(&NewDelivery) -> &str| deliveries.iter().map(|(_, d)| column(d)).collect::<Vec<_>>();
    let status = |d: &NewDelivery| {
        if d.disabled.is_some() {
            DeliveryStatus::Failed.as_str()
        } else {
            DeliveryStatus::Pending.as_str()
        }
    };
    let mut args = writes.arguments()?;
    add(&mut args, event_column(|e| Some(e.id)))?;
    add(&mut args, event_column(|e| Some(e.event_type)))?;
    add(&mut args, event_column(|e| Some(e.client_id)))?;
    add(&mut args, event_column(|e| e.idempotency_key))?;
    add(&mut args, event_column(|e| e.user_id))?;
    add(&mut args, event_column(|e| e.anonymous_id))?;
    add(
        &mut args,
        events.iter().map(|(e, _)| e.payload.to_string()).collect::<Vec<_>>(),
    )?;
    add(
        &mut args,
        events.iter().map(|(e, _)| e.response.to_string()).collect::<Vec<_>>(),
    )?;
    add(&mut args, events.iter().map(|(e, _)| e.occurred_at).collect::<Vec<_>>())?;
    add(&mut args, now)?;
    add(&mut args, delivery_column(|d| &d.id))?;
    add(
        &mut args,
        deliveries.iter().map(|(event, _)| *event).collect::<Vec<_>>(),
    )?;
    add(&mut args, delivery_column(|d| &d.tracking_event_id))?;
    add(&mut args, delivery_column(|d| &d.delivery_config_id))?;
    add(&mut args, delivery_column(|d| d.target.as_str()))?;
    add(
        &mut args,
        deliveries
            .iter()
            .map(|(_, d)| d.tracking_event.to_string())
            .collect::<Vec<_>>(),
    )?;
    add(&mut args, delivery_column(status))?;
    add(
        &mut args,
        deliveries
            .iter()
            .map(|(_, d)| d.disabled.as_deref())
            .collect::<Vec<_>>(),
    )?;
    add(&mut args, CHANNEL)?;
    add(
        &mut args,
        wake && deliveries
            .iter()
            .any(|(_, d)| d.disabled.is_none() && d.leased_until.is_none()),
    )?;
    add(
        &mut args,
        deliveries.iter().map(|(_, d)| d.leased_until).collect::<Vec<_>>(),
    )?;
    sqlx::query_with(STORE_SQL.as_str(), args).execute(conn).await?;
    Ok(())
}
