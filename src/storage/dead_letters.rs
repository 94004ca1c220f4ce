//! What a dead letter sets off, in the transaction that records it: its target disabled when
//! the destination is gone (a 410, or down for longer than the whole schedule), and a
//! `DeliveryFailed` notice queued to the ErrorConfig's DeliveryConfig.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sqlx::types::Json;
use sqlx::PgConnection;

use super::deliveries::Claimed;
use super::entities::Writes;
use super::ingest::{new_event_id, store, NewDelivery, NewEvent};
use crate::domain::targets::DeliveryTargetsDoc;

/// The event type of the notices sent to the ErrorConfig's DeliveryConfig.
pub use crate::domain::event_type::FAILURE_NOTICE;
/// The ClientID failure notices are recorded under.
pub const NOTICE_CLIENT: &str = "_trackway";

pub(super) async fn disable(
    conn: &mut PgConnection,
    delivery: &Claimed,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE delivery_configs
         SET disabled_targets = disabled_targets || jsonb_build_object($2::text, jsonb_build_object(
                 'Reason', $3::text, 'DisabledAt', $4::timestamptz, 'DeliveryID', $5::text)),
             updated_at = $4
         WHERE id = $1",
    )
    .bind(&delivery.delivery_config_id)
    .bind(delivery.target.as_str())
    .bind(reason)
    .bind(now)
    .bind(&delivery.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The ErrorConfig's DeliveryConfig, where failure notices go.
#[derive(sqlx::FromRow)]
struct NoticeTarget {
    id: String,
    targets: Json<DeliveryTargetsDoc>,
    disabled_targets: Json<Map<String, Value>>,
}

/// Sends word of a dead letter to the ErrorConfig's DeliveryConfig, if one is set: a
/// `DeliveryFailed` event with one delivery per target, queued like any other.
pub(super) async fn queue_failure_notice(
    conn: &mut PgConnection,
    failed: &Claimed,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let target: Option<NoticeTarget> = sqlx::query_as(
        "SELECT dc.id, dc.targets, dc.disabled_targets
         FROM error_config ec JOIN delivery_configs dc ON dc.id = ec.delivery_config_id
         WHERE dc.enabled",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(NoticeTarget {
        id: config_id,
        targets,
        disabled_targets: disabled,
    }) = target
    else {
        return Ok(());
    };
    let event_id = new_event_id();
    let payload = json!({
        "ID": event_id,
        "EventType": FAILURE_NOTICE,
        "Date": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "Delivery": {
            "ID": failed.id,
            "EventID": failed.event_id,
            "EventType": failed.event_type,
            "TrackingEventID": failed.tracking_event_id,
            "DeliveryConfigID": failed.delivery_config_id,
            "Target": failed.target,
            "Attempts": failed.attempts,
            "Reason": reason,
        },
    });
    let tracking_event = json!({"ID": "ErrorConfig", "Name": "ErrorConfig", "ConfigData": null});
    let deliveries = NewDelivery::per_target("ErrorConfig", &config_id, &tracking_event, &targets, &disabled);
    let event = NewEvent {
        id: &event_id,
        event_type: FAILURE_NOTICE,
        client_id: NOTICE_CLIENT,
        idempotency_key: None,
        user_id: None,
        anonymous_id: None,
        payload: &payload,
        response: &json!({}),
        occurred_at: now,
    };
    store(conn, &Writes::default(), &[(event, &deliveries)], now, true).await?;
    Ok(())
}
