//! What triggers' payloads and deliveries are built from: one statement reads, for every
//! trigger of a batch, its order and the order's line items, the products they mention, the
//! user after identity stitching, the TrackingEvents that match it and any earlier acceptance
//! of its idempotency key. It reads before the batch writes, and [`view`] applies to what it
//! read the writes of the batch's triggers up to each one, in arrival order, so that a batch
//! needs no second look and each trigger sees what accepting the triggers one by one would
//! have shown it; the batch's transaction holds its shoppers' locks ([`super::begin_locking`]),
//! so no other instance's trigger about them writes in between.

use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::domain::delivery_config::DeliveryPolicyDoc;
use crate::domain::hydration::{self, Snapshot, UserContext};
use crate::domain::targets::DeliveryTargetsDoc;
use crate::domain::trigger::Trigger;
use crate::domain::{EventType, ResourceId};
use crate::storage::delivery_configs::ConfigNow;
use crate::storage::entities::{Overlay, Writes};

type Doc = Map<String, Value>;

/// One trigger's view of the store, after its own writes and those of its batch's earlier
/// triggers.
pub(crate) struct Read {
    pub snapshot: Snapshot,
    pub user: UserContext,
    pub matches: Vec<Match>,
}

/// What the store holds for one trigger, before its batch's writes: [`view`] applies them. Its
/// user is the one the batch's earlier triggers leave it, when they settle it.
#[derive(sqlx::FromRow)]
pub(crate) struct Stored {
    order_doc: Option<Json<Doc>>,
    line_items: Json<Vec<Doc>>,
    products: Json<Vec<Doc>>,
    /// The user named by the trigger or its stored order.
    known_user_id: Option<String>,
    user_id: Option<String>,
    anonymous_id: Option<String>,
    user_doc: Option<Json<Doc>>,
    matches: Json<Vec<Match>>,
    /// The response to the trigger that took the same idempotency key, if one did.
    replay: Option<Json<Value>>,
}

impl Stored {
    /// The 202 body of the earlier trigger with the same idempotency key, if there is one.
    pub fn take_replay(&mut self) -> Option<Value> {
        self.replay.take().map(|r| r.0)
    }
}

/// A TrackingEvent that matches the trigger, with its DeliveryConfig's targets.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) struct Match {
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
        ConfigNow::parse(
            self.delivery_config_id,
            true,
            &self.targets,
            &self.policy,
            self.disabled_targets,
        )
    }
}

/// One row per trigger, in the order given: its order and the order's line items, the products
/// it names (`$4`, those of the line items it or the batch's triggers before it write on its
/// order among them) and those on the stored line items, the user after identity stitching, the
/// TrackingEvents it matches and the response to an earlier trigger with its idempotency key.
///
/// The user is the one the trigger names or the batch's earlier triggers gave its order (`$2`),
/// else the stored order's, else the one the batch's earlier triggers linked its anonymous ID
/// to (`$8`), else the stored link's. A user known so finds the anonymous ID last linked to it,
/// unless the batch's earlier triggers link that one anew (`$9`): their links are applied by
/// [`view`]. An anonymous ID alone finds its user.
const READ_SQL: &str = "
SELECT
    o.doc AS order_doc,
    items.docs AS line_items,
    (SELECT coalesce(jsonb_agg(p.doc), '[]') FROM products p
     WHERE p.id = ANY(ARRAY(SELECT jsonb_array_elements_text(t.product_ids)) || items.product_ids)) AS products,
    known.user_id AS known_user_id,
    stitched.user_id,
    stitched.anonymous_id,
    (SELECT doc FROM users WHERE id = stitched.user_id) AS user_doc,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', te.id, 'name', te.name, 'config_data', te.config_data,
                'delivery_config_id', te.delivery_config_id,
                'targets', dc.targets, 'policy', dc.policy, 'disabled_targets', dc.disabled_targets)
                ORDER BY te.id), '[]')
     FROM tracking_events te JOIN delivery_configs dc ON dc.id = te.delivery_config_id
     WHERE te.client_id = t.client_id AND te.event_type = t.event_type AND dc.enabled) AS matches,
    (SELECT response FROM events e
     WHERE e.client_id = t.client_id AND e.idempotency_key = t.idempotency_key) AS replay
FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::jsonb[]) WITH ORDINALITY
     AS t(order_id, user_id, anonymous_id, product_ids, client_id, event_type, idempotency_key, linked_user_id,
          relinked, n)
LEFT JOIN orders o ON o.id = t.order_id
CROSS JOIN LATERAL (
    SELECT coalesce(jsonb_agg(doc), '[]') AS docs,
           coalesce(array_agg(doc->>'ProductID'), '{}') AS product_ids
    FROM line_items WHERE order_id = t.order_id) AS items
CROSS JOIN LATERAL (SELECT coalesce(t.user_id, o.user_id) AS user_id) AS known
CROSS JOIN LATERAL (
    SELECT coalesce(known.user_id, t.linked_user_id,
                    (SELECT user_id FROM identities WHERE anonymous_id = t.anonymous_id)) AS user_id,
           coalesce(t.anonymous_id, (SELECT anonymous_id FROM identities
                                     WHERE user_id = known.user_id
                                       AND anonymous_id <> ALL(ARRAY(SELECT jsonb_array_elements_text(t.relinked)))
                                     ORDER BY linked_at DESC LIMIT 1)) AS anonymous_id
    ) AS stitched
ORDER BY t.n";

/// Reads in one statement what the store holds for every trigger, before the batch's writes
/// (`writes`, each trigger's, in the same order) are made.
pub(crate) async fn read(
    conn: &mut PgConnection,
    triggers: &[&Trigger],
    writes: &[Writes<'_>],
) -> Result<Vec<Stored>, sqlx::Error> {
    let mut columns = Columns::default();
    let mut batch = Overlay::default();
    for (&trigger, own) in triggers.iter().zip(writes) {
        columns.push(trigger, &batch);
        batch.apply(own);
    }
    let rows: Vec<Stored> = sqlx::query_as(READ_SQL)
        .bind(&columns.order_ids)
        .bind(&columns.user_ids)
        .bind(triggers.iter().map(|t| t.anonymous_id.as_deref()).collect::<Vec<_>>())
        .bind(&columns.product_ids)
        .bind(triggers.iter().map(|t| t.client_id.as_str()).collect::<Vec<_>>())
        .bind(triggers.iter().map(|t| t.event_type.as_str()).collect::<Vec<_>>())
        .bind(
            triggers
                .iter()
                .map(|t| t.idempotency_key.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(&columns.linked_user_ids)
        .bind(&columns.relinked)
        .fetch_all(conn)
        .await?;
    if rows.len() != triggers.len() {
        return Err(sqlx::Error::Protocol(format!(
            "read {} snapshots for {} triggers",
            rows.len(),
            triggers.len()
        )));
    }
    Ok(rows)
}

/// The read's columns that depend on the batch's triggers up to each one ([`READ_SQL`]).
#[derive(Default)]
struct Columns<'t> {
    order_ids: Vec<Option<&'t str>>,
    /// The user the trigger names, else the one the batch gives its order.
    user_ids: Vec<Option<String>>,
    /// The products it names or carries line items of, and those of the line items the
    /// batch's earlier triggers write on its order.
    product_ids: Vec<Json<Vec<String>>>,
    /// The user the batch links its anonymous ID to.
    linked_user_ids: Vec<Option<String>>,
    /// The anonymous IDs the batch links, whose stored links no longer hold: only for a
    /// trigger without an anonymous ID, the only kind that looks its user's up.
    relinked: Vec<Json<Vec<String>>>,
}

impl<'t> Columns<'t> {
    /// Adds `trigger`'s columns; `batch` holds the writes of the batch's triggers before it.
    /// Its own need no reading: a user it gives its order or links its anonymous ID to, it
    /// names; the products of the line items it carries, it names. But a line item an earlier
    /// trigger wrote and this one removes is in its payload, so its product is read.
    fn push(&mut self, trigger: &'t Trigger, batch: &Overlay<'_>) {
        let order = order_id(trigger).map(ResourceId::as_str);
        self.order_ids.push(order);
        let order_user = order.and_then(|order| batch.order_user(order));
        self.user_ids
            .push(trigger.user_id.as_ref().or(order_user).map(ResourceId::to_string));
        let carried = trigger.line_items.iter().chain(&trigger.line_item).map(|li| &li.doc);
        let mut products = hydration::product_ids(trigger, carried);
        let written = order
            .map(|order| batch.product_ids_written_on(order))
            .unwrap_or_default();
        products.extend(written.into_iter().map(str::to_owned));
        self.product_ids.push(Json(products));
        let anonymous = trigger.anonymous_id.as_deref();
        self.linked_user_ids
            .push(anonymous.and_then(|a| batch.linked_user(a)).map(ResourceId::to_string));
        let relinked = match anonymous {
            Some(_) => Vec::new(),
            None => batch.linked_anonymous_ids().map(str::to_owned).collect(),
        };
        self.relinked.push(Json(relinked));
    }
}

/// The order a trigger's payload shows, if it is about one.
fn order_id(trigger: &Trigger) -> Option<&ResourceId> {
    trigger.order_id.as_ref().filter(|_| trigger.is_about_an_order())
}

/// A trigger's view: the store as accepting its batch's triggers one by one, in arrival order,
/// would have shown it. That is what the store held before the batch (`stored`), with the
/// writes of the batch's earlier triggers (`batch`) and then its own (`own`), which this adds
/// to `batch` for the triggers after it.
pub(crate) fn view<'a>(trigger: &Trigger, stored: Stored, own: &Writes<'a>, batch: &mut Overlay<'a>) -> Read {
    let order = order_id(trigger).map(ResourceId::as_str);
    // The order's line items before the trigger's own writes: what it removes or updates.
    let before = match order {
        Some(order) => batch.line_items_of(order, stored.line_items.0),
        None => stored.line_items.0,
    };
    let removed = removed_line_item(trigger, &before);
    let previous_quantity = previous_quantity(trigger, &before);
    batch.apply(own);
    let batch = &*batch;
    let line_items = match order {
        Some(order) => batch.line_items_of(order, before),
        None => Vec::new(),
    };
    let line_item = removed.or_else(|| {
        let id = trigger.line_item_id.as_ref().filter(|_| order.is_some())?;
        line_items
            .iter()
            .find(|li| li.get("ID").and_then(Value::as_str) == Some(id.as_str()))
            .cloned()
    });
    let products = hydration::product_ids(trigger, line_items.iter().chain(&line_item))
        .into_iter()
        .filter_map(|id| {
            batch.product(&id).cloned().or_else(|| {
                stored
                    .products
                    .0
                    .iter()
                    .find(|p| p.get("ID").and_then(Value::as_str) == Some(id.as_str()))
                    .cloned()
            })
        })
        .collect();
    let user_doc = |id: &str| batch.user(id).cloned().or_else(|| stored.user_doc.map(|d| d.0));
    let anonymous_id = match (&trigger.anonymous_id, &stored.known_user_id) {
        (None, Some(user)) => batch
            .linked_anonymous_id(user)
            .map(str::to_owned)
            .or(stored.anonymous_id),
        _ => stored.anonymous_id,
    };
    Read {
        snapshot: Snapshot {
            order: order.and_then(|id| batch.order(id).cloned().or_else(|| stored.order_doc.map(|d| d.0))),
            line_item,
            line_items,
            products,
            user: stored.user_id.as_deref().and_then(user_doc),
            previous_quantity,
        },
        user: UserContext {
            id: stored.user_id,
            anonymous_id,
        },
        matches: stored.matches.0,
    }
}

/// A LineItemRemoved's line item: as the trigger carries it, else as it was before the removal
/// (`before`), else from the trigger's LineItems.
fn removed_line_item(trigger: &Trigger, before: &[Doc]) -> Option<Doc> {
    let (EventType::LineItemRemoved, Some(id)) = (trigger.event_type, &trigger.line_item_id) else {
        return None;
    };
    let is_it = |li: &&Doc| li.get("ID").and_then(Value::as_str) == Some(id.as_str());
    trigger
        .line_item
        .as_ref()
        .map(|li| li.doc.clone())
        .or_else(|| before.iter().find(is_it).cloned())
        .or_else(|| trigger.line_items.iter().map(|li| &li.doc).find(is_it).cloned())
}

/// A LineItemUpdated's line quantity before the update: as the trigger gives it, else as it
/// was before the trigger (`before`: stored, with the batch's earlier triggers' writes) when
/// the trigger carries the updated line. A trigger that only names its line leaves the store's
/// copy as the current one, which may already be the updated line (PUT through the entity
/// API): then the change cannot be told.
fn previous_quantity(trigger: &Trigger, before: &[Doc]) -> Option<serde_json::Number> {
    let (EventType::LineItemUpdated, Some(id)) = (trigger.event_type, &trigger.line_item_id) else {
        return None;
    };
    if let Some(given) = &trigger.previous_quantity {
        return Some(given.clone());
    }
    trigger.line_item.as_ref()?;
    match before
        .iter()
        .find(|li| li.get("ID").and_then(Value::as_str) == Some(id.as_str()))?
        .get("Quantity")?
    {
        Value::Number(quantity) => Some(quantity.clone()),
        _ => None,
    }
}
