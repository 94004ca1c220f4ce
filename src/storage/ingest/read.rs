//! What triggers' payloads and deliveries are built from: one statement reads, for every
//! trigger of a batch, its order and the order's line items, the products they mention, the
//! user after identity stitching, and the TrackingEvents that match it.

use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::domain::delivery_config::DeliveryPolicyDoc;
use crate::domain::hydration::{self, Snapshot, UserContext};
use crate::domain::targets::DeliveryTargetsDoc;
use crate::domain::trigger::Trigger;
use crate::domain::{EventType, ResourceId};
use crate::storage::deliveries::ConfigNow;
use crate::storage::entities::Removed;

type Doc = Map<String, Value>;

/// One trigger's view of the store, after the batch's writes.
pub(super) struct Read {
    pub snapshot: Snapshot,
    pub user: UserContext,
    pub matches: Vec<Match>,
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
pub(super) struct Match {
    pub id: String,
    pub name: String,
    pub config_data: Option<Value>,
    pub delivery_config_id: String,
    pub targets: DeliveryTargetsDoc,
    pub policy: DeliveryPolicyDoc,
    pub disabled_targets: Map<String, Value>,
}

impl Match {
    /// Its DeliveryConfig, as a delivery's attempt reads it.
    pub fn into_config(self) -> ConfigNow {
        ConfigNow {
            id: self.delivery_config_id,
            enabled: true,
            targets: Json(self.targets),
            policy: Json(self.policy),
            disabled_targets: Json(self.disabled_targets),
        }
    }
}

/// One row per trigger, in the order given. A user ID from the trigger or the order finds the
/// anonymous ID last linked to it, and an anonymous ID alone finds its user; the products are
/// those the trigger names and those on the order's stored line items.
const READ_SQL: &str = "
SELECT
    o.doc AS order_doc,
    items.docs AS line_items,
    (SELECT coalesce(jsonb_agg(p.doc ORDER BY p.id), '[]') FROM products p
     WHERE p.id = ANY(ARRAY(SELECT jsonb_array_elements_text(t.product_ids)) || items.product_ids)) AS products,
    stitched.user_id,
    stitched.anonymous_id,
    (SELECT doc FROM users WHERE id = stitched.user_id) AS user_doc,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', te.id, 'name', te.name, 'config_data', te.config_data,
                'delivery_config_id', te.delivery_config_id,
                'targets', dc.targets, 'policy', dc.policy, 'disabled_targets', dc.disabled_targets)
                ORDER BY te.id), '[]')
     FROM tracking_events te JOIN delivery_configs dc ON dc.id = te.delivery_config_id
     WHERE te.client_id = t.client_id AND te.event_type = t.event_type AND dc.enabled) AS matches
FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[]) WITH ORDINALITY
     AS t(order_id, user_id, anonymous_id, product_ids, client_id, event_type, n)
LEFT JOIN orders o ON o.id = t.order_id
CROSS JOIN LATERAL (
    SELECT coalesce(jsonb_agg(doc ORDER BY id), '[]') AS docs,
           coalesce(array_agg(doc->>'ProductID'), '{}') AS product_ids
    FROM line_items WHERE order_id = t.order_id) AS items
CROSS JOIN LATERAL (SELECT coalesce(t.user_id, o.user_id) AS user_id) AS known
CROSS JOIN LATERAL (
    SELECT coalesce(known.user_id,
                    (SELECT user_id FROM identities WHERE anonymous_id = t.anonymous_id)) AS user_id,
           coalesce(t.anonymous_id, (SELECT anonymous_id FROM identities
                                     WHERE user_id = known.user_id ORDER BY linked_at DESC LIMIT 1)) AS anonymous_id
    ) AS stitched
ORDER BY t.n";

/// Reads every trigger's view in one statement. `removed` holds the line items the batch's
/// writes removed (a LineItemRemoved's payload still shows the removed item).
pub(super) async fn read(
    conn: &mut PgConnection,
    triggers: &[&Trigger],
    removed: &[Removed],
) -> Result<Vec<Read>, sqlx::Error> {
    let removed_items: Vec<Option<Doc>> = triggers.iter().map(|t| removed_line_item(t, removed)).collect();
    let order_ids: Vec<Option<&str>> = triggers.iter().map(|t| order_id(t).map(ResourceId::as_str)).collect();
    // Products named by the trigger or by its removed line item; the stored line items' are
    // added by the query.
    let product_ids: Vec<Json<Vec<String>>> = triggers
        .iter()
        .zip(&removed_items)
        .map(|(t, removed)| Json(hydration::product_ids(t, removed.as_slice())))
        .collect();
    let rows: Vec<ReadRow> = sqlx::query_as(READ_SQL)
        .bind(&order_ids)
        .bind(
            triggers
                .iter()
                .map(|t| t.user_id.as_ref().map(ResourceId::as_str))
                .collect::<Vec<_>>(),
        )
        .bind(triggers.iter().map(|t| t.anonymous_id.as_deref()).collect::<Vec<_>>())
        .bind(&product_ids)
        .bind(triggers.iter().map(|t| t.client_id.as_str()).collect::<Vec<_>>())
        .bind(triggers.iter().map(|t| t.event_type.as_str()).collect::<Vec<_>>())
        .fetch_all(conn)
        .await?;
    if rows.len() != triggers.len() {
        return Err(sqlx::Error::Protocol(format!(
            "read {} snapshots for {} triggers",
            rows.len(),
            triggers.len()
        )));
    }
    Ok(rows
        .into_iter()
        .zip(triggers.iter().zip(removed_items))
        .map(|(row, (trigger, removed))| view(trigger, row, removed))
        .collect())
}

/// The order a trigger's payload shows, if it is about one.
fn order_id(trigger: &Trigger) -> Option<&ResourceId> {
    trigger.order_id.as_ref().filter(|_| trigger.is_about_an_order())
}

/// A LineItemRemoved's line item: as the trigger carries it, else as it was stored before the
/// removal, else from the trigger's LineItems.
fn removed_line_item(trigger: &Trigger, removed: &[Removed]) -> Option<Doc> {
    let (EventType::LineItemRemoved, Some(id)) = (trigger.event_type, &trigger.line_item_id) else {
        return None;
    };
    let stored = || {
        let order_id = trigger.order_id.as_ref()?;
        removed
            .iter()
            .find(|r| r.order_id == order_id.as_str() && r.id == id.as_str())
            .map(|r| r.doc.clone())
    };
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
        .or_else(stored)
        .or_else(carried)
}

fn view(trigger: &Trigger, row: ReadRow, removed: Option<Doc>) -> Read {
    let line_items = row.line_items.0;
    let line_item = removed.or_else(|| {
        let id = trigger.line_item_id.as_ref().filter(|_| order_id(trigger).is_some())?;
        line_items
            .iter()
            .find(|li| li.get("ID").and_then(Value::as_str) == Some(id.as_str()))
            .cloned()
    });
    Read {
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
    }
}
