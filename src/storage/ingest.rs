//! Accepting a trigger: one transaction that upserts the entities it carries, reads the rest,
//! builds the hydrated payload, stores the event and one delivery per (matching TrackingEvent ×
//! target), and notifies the workers. It commits entirely or not at all; once it has
//! committed, the event and its deliveries are durable. Each step is one statement, so a
//! trigger costs five round trips (with BEGIN and COMMIT) whatever it carries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::entities::{self, Writes};
use super::StorageError;
use crate::domain::hydration::{self, MissingEntity, Snapshot, UserContext};
use crate::domain::targets::{DeliveryTargetsDoc, TargetKind};
use crate::domain::trigger::Trigger;
use crate::domain::{EventType, ResourceId};

type Doc = Map<String, Value>;

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

/// Accepts a trigger in one transaction of three statements: the carried entities written,
/// the snapshot and the matching TrackingEvents read, the event and its deliveries stored (and
/// the workers notified). A repeated idempotency key is found by the last one; the transaction
/// is then rolled back and the first acceptance's response returned.
pub async fn accept(pool: &PgPool, trigger: &Trigger, now: DateTime<Utc>) -> Result<Accepted, StorageError> {
    let mut tx = pool.begin().await?;
    let removed = write_carried_entities(&mut tx, trigger).await?;
    let read = read_snapshot(&mut tx, trigger, removed).await?;
    let event_id = new_event_id();
    let (payload, missing) = hydration::hydrate(&event_id, trigger, now, &read.snapshot, &read.user);
    let deliveries = new_deliveries(read.matches);
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
    let event = NewEvent {
        id: &event_id,
        event_type: trigger.event_type.as_str(),
        client_id: trigger.client_id.as_str(),
        idempotency_key: trigger.idempotency_key.as_deref(),
        user_id: read.user.id.as_deref(),
        anonymous_id: read.user.anonymous_id.as_deref(),
        payload: &payload,
        response: &body,
        occurred_at: trigger.occurred_at.unwrap_or(now),
    };
    if !store_event(&mut tx, &event, &deliveries, now).await? {
        // An earlier trigger with the same idempotency key committed first: its response is
        // the answer, and nothing of this one is kept.
        tx.rollback().await?;
        let body = replay(pool, trigger)
            .await?
            .ok_or_else(|| StorageError::Database(sqlx::Error::Protocol("idempotent event vanished".into())))?;
        return Ok(Accepted { body, replayed: true });
    }
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

/// Writes the entities the trigger carries; returns the stored document of the line item a
/// LineItemRemoved removed.
async fn write_carried_entities(conn: &mut PgConnection, trigger: &Trigger) -> Result<Option<Doc>, sqlx::Error> {
    let mut writes = Writes {
        users: trigger.user.iter().collect(),
        products: trigger.products.iter().collect(),
        ..Writes::default()
    };
    if let Some(order) = &trigger.order {
        let user = order.reference("FromUserID").or_else(|| trigger.user_id.clone());
        writes.orders.push((order, user));
    }
    if let Some(order_id) = &trigger.order_id {
        let removed = trigger.event_type == EventType::LineItemRemoved;
        writes.line_items = trigger
            .line_items
            .iter()
            .chain(trigger.line_item.iter().filter(|_| !removed))
            .map(|item| (order_id, item))
            .collect();
        if let (true, Some(id)) = (removed, &trigger.line_item_id) {
            writes.remove_line_item = Some((order_id, id));
        }
    }
    if let (EventType::UserLoggedIn, Some(anonymous), Some(user)) =
        (trigger.event_type, &trigger.anonymous_id, &trigger.user_id)
    {
        writes.identity = Some((anonymous, user));
    }
    entities::write(conn, &writes).await
}

/// What a trigger's payload and deliveries are built from, read in one statement.
struct Read {
    snapshot: Snapshot,
    user: UserContext,
    matches: Vec<Match>,
}

#[derive(sqlx::FromRow)]
struct ReadRow {
    order_doc: Option<Json<Doc>>,
    line_items: Json<Vec<Doc>>,
    products: Json<Vec<Doc>>,
    user_id: Option<String>,
    anonymous_id: Option<String>,
    user_doc: Option<Json<Doc>>,
    matches: Json<Vec<Match>>,
}

/// A TrackingEvent that matches the trigger, with its DeliveryConfig's targets.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
struct Match {
    id: String,
    name: String,
    config_data: Option<Value>,
    delivery_config_id: String,
    targets: DeliveryTargetsDoc,
    disabled_targets: Map<String, Value>,
}

/// Reads, after the trigger's own writes: its order and all the order's line items, the
/// products they and the trigger mention, the user after identity stitching (a user ID from the
/// trigger or the order finds the anonymous ID last linked to it, and an anonymous ID alone
/// finds its user), and the TrackingEvents of the trigger's client and type.
const READ_SQL: &str = "
WITH
the_order AS (SELECT doc, user_id FROM orders WHERE id = $1),
items AS (SELECT id, doc FROM line_items WHERE order_id = $1),
known AS (SELECT coalesce($2, (SELECT user_id FROM the_order)) AS user_id),
stitched AS (
    SELECT coalesce(known.user_id,
                    (SELECT user_id FROM identities WHERE anonymous_id = $3)) AS user_id,
           coalesce($3, (SELECT anonymous_id FROM identities
                         WHERE user_id = known.user_id ORDER BY linked_at DESC LIMIT 1)) AS anonymous_id
    FROM known)
SELECT
    (SELECT doc FROM the_order) AS order_doc,
    (SELECT coalesce(jsonb_agg(doc ORDER BY id), '[]') FROM items) AS line_items,
    (SELECT coalesce(jsonb_agg(doc ORDER BY id), '[]') FROM products
     WHERE id = ANY($4::text[] || ARRAY(SELECT doc->>'ProductID' FROM items))) AS products,
    stitched.user_id,
    stitched.anonymous_id,
    (SELECT doc FROM users WHERE id = stitched.user_id) AS user_doc,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', te.id, 'name', te.name, 'config_data', te.config_data,
                'delivery_config_id', te.delivery_config_id,
                'targets', dc.targets, 'disabled_targets', dc.disabled_targets) ORDER BY te.id), '[]')
     FROM tracking_events te JOIN delivery_configs dc ON dc.id = te.delivery_config_id
     WHERE te.client_id = $5 AND te.event_type = $6 AND dc.enabled) AS matches
FROM stitched";

async fn read_snapshot(conn: &mut PgConnection, trigger: &Trigger, removed: Option<Doc>) -> Result<Read, sqlx::Error> {
    let order_id = trigger.order_id.as_ref().filter(|_| trigger.is_about_an_order());
    let removed_line_item = match (trigger.event_type, &trigger.line_item_id) {
        (EventType::LineItemRemoved, Some(id)) => {
            let carried = || {
                trigger
                    .line_items
                    .iter()
                    .find(|li| li.id == *id)
                    .map(|li| li.doc.clone())
            };
            trigger
                .line_item
                .as_ref()
                .map(|li| li.doc.clone())
                .or(removed)
                .or_else(carried)
        }
        _ => None,
    };
    // Products named by the trigger or by the removed line item; the stored line items' are
    // added by the query.
    let product_ids = hydration::product_ids(trigger, removed_line_item.as_slice());
    let row: ReadRow = sqlx::query_as(READ_SQL)
        .bind(order_id.map(ResourceId::as_str))
        .bind(trigger.user_id.as_ref().map(ResourceId::as_str))
        .bind(trigger.anonymous_id.as_deref())
        .bind(&product_ids)
        .bind(trigger.client_id.as_str())
        .bind(trigger.event_type.as_str())
        .fetch_one(conn)
        .await?;
    let line_items = row.line_items.0;
    let line_item = removed_line_item.or_else(|| {
        let id = trigger.line_item_id.as_ref().filter(|_| order_id.is_some())?;
        line_items
            .iter()
            .find(|li| li.get("ID").and_then(Value::as_str) == Some(id.as_str()))
            .cloned()
    });
    Ok(Read {
        snapshot: Snapshot {
            order: row.order_doc.map(|d| d.0),
            line_item,
            line_items,
            products: row.products.0,
            user: row.user_doc.map(|d| d.0),
        },
        user: UserContext {
            id: row.user_id,
            anonymous_id: row.anonymous_id,
        },
        matches: row.matches.0,
    })
}

/// One delivery per matching TrackingEvent and target of its DeliveryConfig.
fn new_deliveries(matches: Vec<Match>) -> Vec<NewDelivery> {
    matches
        .into_iter()
        .flat_map(|m| {
            let tracking_event = json!({"ID": m.id, "Name": m.name, "ConfigData": m.config_data});
            NewDelivery::per_target(
                &m.id,
                &m.delivery_config_id,
                &tracking_event,
                &m.targets,
                &m.disabled_targets,
            )
        })
        .collect()
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
            })
            .collect()
    }
}

/// Why a target is switched off, if it is.
pub(crate) fn disabled_reason(disabled: &Map<String, Value>, target: TargetKind) -> Option<String> {
    disabled.get(target.as_str()).map(|d| {
        let reason = d.get("Reason").and_then(Value::as_str).unwrap_or("disabled");
        format!("{target} target is disabled: {reason}")
    })
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

/// Stores an event and its deliveries in one statement and, when any delivery is due, notifies
/// the workers (on commit). Returns false, storing nothing, when the event's idempotency key is
/// already taken.
const STORE_EVENT_SQL: &str = "
WITH
event AS (
    INSERT INTO events (id, event_type, client_id, idempotency_key, user_id, anonymous_id, payload, response,
                        occurred_at, received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT ON CONSTRAINT events_idempotency_key DO NOTHING
    RETURNING id),
delivery AS (
    INSERT INTO deliveries (id, event_id, tracking_event_id, delivery_config_id, target, tracking_event, status,
                            last_error, next_attempt_at, created_at, updated_at)
    SELECT t.id, event.id, te, dc, target, snapshot, status, error, $10, $10, $10
    FROM event, unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::jsonb[], $16::text[], $17::text[])
                AS t(id, te, dc, target, snapshot, status, error))
SELECT event.id FROM event
LEFT JOIN LATERAL (SELECT pg_notify($18, '') WHERE $19) AS notified ON true";

pub(crate) async fn store_event(
    conn: &mut PgConnection,
    event: &NewEvent<'_>,
    deliveries: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let status = |d: &NewDelivery| if d.disabled.is_some() { "Failed" } else { "Pending" };
    let text = |column: fn(&NewDelivery) -> &str| deliveries.iter().map(column).collect::<Vec<_>>();
    let stored: Option<String> = sqlx::query_scalar(STORE_EVENT_SQL)
        .bind(event.id)
        .bind(event.event_type)
        .bind(event.client_id)
        .bind(event.idempotency_key)
        .bind(event.user_id)
        .bind(event.anonymous_id)
        .bind(Json(event.payload))
        .bind(Json(event.response))
        .bind(event.occurred_at)
        .bind(now)
        .bind(text(|d| &d.id))
        .bind(text(|d| &d.tracking_event_id))
        .bind(text(|d| &d.delivery_config_id))
        .bind(text(|d| d.target.as_str()))
        .bind(deliveries.iter().map(|d| Json(&d.tracking_event)).collect::<Vec<_>>())
        .bind(deliveries.iter().map(status).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|d| d.disabled.as_deref()).collect::<Vec<_>>())
        .bind(CHANNEL)
        .bind(deliveries.iter().any(|d| d.disabled.is_none()))
        .fetch_optional(conn)
        .await?;
    Ok(stored.is_some())
}
