//! Accepting a trigger: one transaction that upserts the entities it carries, reads the rest,
//! builds the hydrated payload, stores the event and one delivery per (matching TrackingEvent ×
//! target), and notifies the workers. It commits entirely or not at all; once it has
//! committed, the event and its deliveries are durable.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::entities::{self, Keyed};
use super::StorageError;
use crate::domain::hydration::{self, MissingEntity, Snapshot, UserContext};
use crate::domain::targets::{DeliveryTargetsDoc, TargetKind};
use crate::domain::trigger::Trigger;
use crate::domain::EventType;

/// The channel workers LISTEN on; a notification means "new deliveries are due".
pub const CHANNEL: &str = "trackway_deliveries";

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
    pub id: String,
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

/// A delivery to create.
pub(crate) struct NewDelivery {
    pub id: String,
    pub tracking_event_id: String,
    pub delivery_config_id: String,
    pub target: TargetKind,
    pub tracking_event: Value,
    /// Set when the target is disabled: the delivery is recorded as failed with this reason.
    pub disabled: Option<String>,
}

pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

pub fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::now_v7().simple())
}

pub async fn accept(pool: &PgPool, trigger: &Trigger, now: DateTime<Utc>) -> Result<Accepted, StorageError> {
    if let Some(body) = replay(pool, trigger).await? {
        return Ok(Accepted { body, replayed: true });
    }
    let mut tx = pool.begin().await?;
    write_carried_entities(&mut tx, trigger).await?;
    let (snapshot, user) = read_snapshot(&mut tx, trigger).await?;
    let event_id = new_event_id();
    let (payload, missing) = hydration::hydrate(&event_id, trigger, now, &snapshot, &user);
    let deliveries = matching_deliveries(&mut tx, trigger).await?;
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
    let body = serde_json::to_value(&out).map_err(|e| StorageError::Database(sqlx::Error::Decode(e.into())))?;
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO events (id, event_type, client_id, idempotency_key, user_id, anonymous_id, payload, response,
                             occurred_at, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT ON CONSTRAINT events_idempotency_key DO NOTHING
         RETURNING id",
    )
    .bind(&event_id)
    .bind(trigger.event_type.as_str())
    .bind(trigger.client_id.as_str())
    .bind(trigger.idempotency_key.as_deref())
    .bind(user.id.as_deref())
    .bind(user.anonymous_id.as_deref())
    .bind(Json(&payload))
    .bind(Json(&body))
    .bind(trigger.occurred_at.unwrap_or(now))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        // A concurrent duplicate committed first: its response is the answer.
        tx.rollback().await?;
        let body = replay(pool, trigger)
            .await?
            .ok_or_else(|| StorageError::Database(sqlx::Error::Protocol("idempotent event vanished".into())))?;
        return Ok(Accepted { body, replayed: true });
    }
    insert_deliveries(&mut tx, &event_id, &deliveries, now).await?;
    tx.commit().await?;
    Ok(Accepted { body, replayed: false })
}

/// The stored response of an earlier trigger with the same (ClientID, ID).
async fn replay(pool: &PgPool, trigger: &Trigger) -> Result<Option<Value>, StorageError> {
    let Some(key) = &trigger.idempotency_key else {
        return Ok(None);
    };
    let body: Option<Json<Value>> =
        sqlx::query_scalar("SELECT response FROM events WHERE client_id = $1 AND idempotency_key = $2")
            .bind(trigger.client_id.as_str())
            .bind(key)
            .fetch_optional(pool)
            .await?;
    Ok(body.map(|b| b.0))
}

async fn write_carried_entities(conn: &mut PgConnection, trigger: &Trigger) -> Result<(), sqlx::Error> {
    if let Some(user) = &trigger.user {
        entities::upsert(conn, Keyed::Users, &[user]).await?;
    }
    let products: Vec<_> = trigger.products.iter().collect();
    entities::upsert(conn, Keyed::Products, &products).await?;
    if let Some(order) = &trigger.order {
        let user = order.reference("FromUserID").or_else(|| trigger.user_id.clone());
        entities::upsert_order(conn, order, user.as_ref()).await?;
    }
    if let Some(order_id) = &trigger.order_id {
        let removed = trigger.event_type == EventType::LineItemRemoved;
        let items: Vec<_> = trigger
            .line_items
            .iter()
            .chain(trigger.line_item.iter().filter(|_| !removed))
            .collect();
        entities::upsert_line_items(conn, order_id, &items).await?;
    }
    if let (EventType::UserLoggedIn, Some(anonymous), Some(user)) =
        (trigger.event_type, &trigger.anonymous_id, &trigger.user_id)
    {
        entities::link_identity(conn, anonymous, user).await?;
    }
    Ok(())
}

async fn read_snapshot(conn: &mut PgConnection, trigger: &Trigger) -> Result<(Snapshot, UserContext), sqlx::Error> {
    let mut snapshot = Snapshot::default();
    let mut order_user = None;
    if let (true, Some(order_id)) = (trigger.is_about_an_order(), &trigger.order_id) {
        if let Some((doc, user)) = entities::fetch_order(conn, order_id).await? {
            snapshot.order = Some(doc);
            order_user = user;
        }
        if let (EventType::LineItemRemoved, Some(id)) = (trigger.event_type, &trigger.line_item_id) {
            let stored = entities::remove_line_item(conn, order_id, id).await?;
            snapshot.line_item = trigger.line_item.as_ref().map(|l| l.doc.clone()).or(stored);
        }
        snapshot.line_items = entities::fetch_line_items(conn, order_id).await?;
        if snapshot.line_item.is_none() {
            if let Some(id) = &trigger.line_item_id {
                snapshot.line_item = snapshot
                    .line_items
                    .iter()
                    .find(|li| li.get("ID").and_then(Value::as_str) == Some(id.as_str()))
                    .cloned();
            }
        }
    }
    let mut mentioned = snapshot.line_items.clone();
    mentioned.extend(snapshot.line_item.clone());
    snapshot.products = entities::fetch(conn, Keyed::Products, &hydration::product_ids(trigger, &mentioned)).await?;

    let mut user = UserContext {
        id: trigger.user_id.as_ref().map(ToString::to_string).or(order_user),
        anonymous_id: trigger.anonymous_id.clone(),
    };
    match (&user.id, &user.anonymous_id) {
        (None, Some(anonymous)) => user.id = entities::user_of_anonymous(conn, anonymous).await?,
        (Some(id), None) => user.anonymous_id = entities::anonymous_of_user(conn, id).await?,
        _ => {}
    }
    if let Some(id) = &user.id {
        snapshot.user = entities::fetch(conn, Keyed::Users, std::slice::from_ref(id))
            .await?
            .pop();
    }
    Ok((snapshot, user))
}

#[derive(sqlx::FromRow)]
struct Match {
    id: String,
    name: String,
    config_data: Option<Json<Value>>,
    delivery_config_id: String,
    targets: Json<DeliveryTargetsDoc>,
    disabled_targets: Json<serde_json::Map<String, Value>>,
}

async fn matching_deliveries(conn: &mut PgConnection, trigger: &Trigger) -> Result<Vec<NewDelivery>, sqlx::Error> {
    let matches: Vec<Match> = sqlx::query_as(
        "SELECT te.id, te.name, te.config_data, te.delivery_config_id, dc.targets, dc.disabled_targets
         FROM tracking_events te JOIN delivery_configs dc ON dc.id = te.delivery_config_id
         WHERE te.client_id = $1 AND te.event_type = $2 AND dc.enabled
         ORDER BY te.id",
    )
    .bind(trigger.client_id.as_str())
    .bind(trigger.event_type.as_str())
    .fetch_all(conn)
    .await?;
    Ok(matches
        .into_iter()
        .flat_map(|m| {
            let tracking_event = json!({"ID": m.id, "Name": m.name, "ConfigData": m.config_data.map(|c| c.0)});
            m.targets
                .0
                .kinds()
                .into_iter()
                .map(|target| NewDelivery {
                    id: new_delivery_id(),
                    tracking_event_id: m.id.clone(),
                    delivery_config_id: m.delivery_config_id.clone(),
                    target,
                    tracking_event: tracking_event.clone(),
                    disabled: disabled_reason(&m.disabled_targets.0, target),
                })
                .collect::<Vec<_>>()
        })
        .collect())
}

/// Why a target is switched off, if it is.
pub(crate) fn disabled_reason(disabled: &serde_json::Map<String, Value>, target: TargetKind) -> Option<String> {
    disabled.get(target.as_str()).map(|d| {
        let reason = d.get("Reason").and_then(Value::as_str).unwrap_or("disabled");
        format!("{target} target is disabled: {reason}")
    })
}

/// Inserts deliveries (one statement) and, when any is due, notifies the workers.
pub(crate) async fn insert_deliveries(
    conn: &mut PgConnection,
    event_id: &str,
    deliveries: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    let tracking_event_ids: Vec<&str> = deliveries.iter().map(|d| d.tracking_event_id.as_str()).collect();
    let config_ids: Vec<&str> = deliveries.iter().map(|d| d.delivery_config_id.as_str()).collect();
    let targets: Vec<&str> = deliveries.iter().map(|d| d.target.as_str()).collect();
    let snapshots: Vec<Json<&Value>> = deliveries.iter().map(|d| Json(&d.tracking_event)).collect();
    let statuses: Vec<&str> = deliveries
        .iter()
        .map(|d| if d.disabled.is_some() { "Failed" } else { "Pending" })
        .collect();
    let errors: Vec<Option<&str>> = deliveries.iter().map(|d| d.disabled.as_deref()).collect();
    sqlx::query(
        "INSERT INTO deliveries (id, event_id, tracking_event_id, delivery_config_id, target, tracking_event, status,
                                 last_error, next_attempt_at, created_at, updated_at)
         SELECT id, $1, te, dc, target, snapshot, status, error, $2, $2, $2
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::text[])
              AS t(id, te, dc, target, snapshot, status, error)",
    )
    .bind(event_id)
    .bind(now)
    .bind(&ids)
    .bind(&tracking_event_ids)
    .bind(&config_ids)
    .bind(&targets)
    .bind(&snapshots)
    .bind(&statuses)
    .bind(&errors)
    .execute(&mut *conn)
    .await?;
    if statuses.contains(&"Pending") {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(conn)
            .await?;
    }
    Ok(())
}
