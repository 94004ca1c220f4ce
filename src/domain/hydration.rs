//! Hydration: from a trigger and what the entity store holds, the payload every destination
//! receives. LineItem events carry the changed `LineItem`, the `Order`, all the order's
//! `LineItems`, the `Products` on them and the `User`; order events the same without
//! `LineItem`; `UserLoggedIn` the `User`; `ProductViewed` the `Products` and the `User`.
//! `LineItemUpdated` adds the line's `PreviousQuantity`; a trigger's `OrderPromotions` and
//! `Context` are passed on as given. A referenced entity nobody knows is reported in
//! `MissingEntities`, and the payload carries `null` (or leaves it out of a list) instead: the
//! event is never dropped for it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::event_type::EventType;
use super::trigger::Trigger;

/// The entities the store held for a trigger (after the trigger's own were written).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub order: Option<Map<String, Value>>,
    /// The changed line item (for LineItem events).
    pub line_item: Option<Map<String, Value>>,
    /// All the order's line items, ordered by ID (byte order, whatever the database's
    /// collation).
    pub line_items: Vec<Map<String, Value>>,
    /// The products the payload mentions, ordered by ID (byte order).
    pub products: Vec<Map<String, Value>>,
    pub user: Option<Map<String, Value>>,
    /// The changed line item's `Quantity` before this trigger (LineItemUpdated), as stored,
    /// when the store held the line.
    pub previous_quantity: Option<serde_json::Number>,
}

/// Who the event is about, after identity stitching.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct UserContext {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "AnonymousId")]
    pub anonymous_id: Option<String>,
}

/// A referenced entity that neither the trigger nor the store had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MissingEntity {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    #[serde(rename = "ID")]
    pub id: String,
}

/// The product IDs a payload needs: the line items' and the trigger's own.
pub fn product_ids<'a>(trigger: &Trigger, line_items: impl IntoIterator<Item = &'a Map<String, Value>>) -> Vec<String> {
    let mut ids: Vec<String> = line_items
        .into_iter()
        .filter_map(|li| li.get("ProductID").and_then(Value::as_str).map(str::to_owned))
        .chain(trigger.product_id.iter().map(|p| p.to_string()))
        .chain(trigger.products.iter().map(|p| p.id.to_string()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Builds the payload of event `event_id` and lists what was missing.
pub fn hydrate(
    event_id: &str,
    trigger: &Trigger,
    received_at: DateTime<Utc>,
    snapshot: &Snapshot,
    user: &UserContext,
) -> (Value, Vec<MissingEntity>) {
    let mut missing = Vec::new();
    let mut payload = Map::new();
    payload.insert("ID".into(), json!(event_id));
    payload.insert("EventType".into(), json!(trigger.event_type));
    let date = trigger.occurred_at.unwrap_or(received_at);
    payload.insert("Date".into(), json!(date.to_rfc3339_opts(SecondsFormat::Millis, true)));
    payload.insert("ClientID".into(), json!(trigger.client_id));
    payload.insert("UserContext".into(), json!(user));

    if let Some(id) = &user.id {
        if snapshot.user.is_none() {
            missing.push(MissingEntity {
                kind: "User",
                id: id.clone(),
            });
        }
    }
    let about_an_order = trigger.is_about_an_order();
    if about_an_order {
        if let (Some(id), None) = (&trigger.order_id, &snapshot.order) {
            missing.push(MissingEntity {
                kind: "Order",
                id: id.to_string(),
            });
        }
        payload.insert("Order".into(), object_or_null(&snapshot.order));
    }
    let line_item_event = matches!(
        trigger.event_type,
        EventType::LineItemAdded | EventType::LineItemUpdated | EventType::LineItemRemoved
    );
    if line_item_event {
        if let (Some(id), None) = (&trigger.line_item_id, &snapshot.line_item) {
            missing.push(MissingEntity {
                kind: "LineItem",
                id: id.to_string(),
            });
        }
        payload.insert("LineItem".into(), object_or_null(&snapshot.line_item));
    }
    if trigger.event_type == EventType::LineItemUpdated {
        payload.insert("PreviousQuantity".into(), json!(snapshot.previous_quantity));
    }
    if about_an_order {
        payload.insert("LineItems".into(), json!(snapshot.line_items));
    }
    for id in product_ids(trigger, snapshot.line_items.iter().chain(&snapshot.line_item)) {
        let known = snapshot
            .products
            .iter()
            .any(|p| p.get("ID").and_then(Value::as_str) == Some(id.as_str()));
        if !known {
            missing.push(MissingEntity { kind: "Product", id });
        }
    }
    if trigger.event_type != EventType::UserLoggedIn {
        payload.insert("Products".into(), json!(snapshot.products));
    }
    payload.insert("User".into(), object_or_null(&snapshot.user));
    if let Some(payments) = &trigger.payments {
        payload.insert("Payments".into(), json!(payments));
    }
    if !trigger.promotions.is_empty() {
        let promotions: Vec<&Map<String, Value>> = trigger.promotions.iter().map(|p| &p.doc).collect();
        payload.insert("OrderPromotions".into(), json!(promotions));
    }
    if let Some(context) = &trigger.context {
        payload.insert("Context".into(), json!(context));
    }
    if let Some(xp) = &trigger.xp {
        payload.insert("xp".into(), xp.clone());
    }
    (Value::Object(payload), missing)
}

fn object_or_null(entity: &Option<Map<String, Value>>) -> Value {
    entity.clone().map_or(Value::Null, Value::Object)
}

/// The body a destination receives: the event's payload with the TrackingEvent it matched.
pub fn with_tracking_event(mut payload: Value, tracking_event: &Value) -> Value {
    if let Value::Object(map) = &mut payload {
        map.insert("TrackingEvent".into(), tracking_event.clone());
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::trigger::TriggerDoc;

    fn trigger(value: Value) -> Trigger {
        Trigger::parse(&serde_json::from_value::<TriggerDoc>(value).unwrap()).unwrap()
    }

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_line_item_event_carries_the_whole_order() {
        let t =
            trigger(json!({"EventType":"LineItemAdded","ClientID":"s","OrderID":"PO1","LineItemID":"L2","UserID":"u"}));
        let snapshot = Snapshot {
            order: Some(obj(json!({"ID":"PO1"}))),
            line_item: Some(obj(json!({"ID":"L2","ProductID":"P2"}))),
            line_items: vec![
                obj(json!({"ID":"L1","ProductID":"P1"})),
                obj(json!({"ID":"L2","ProductID":"P2"})),
            ],
            products: vec![obj(json!({"ID":"P1"})), obj(json!({"ID":"P2"}))],
            user: Some(obj(json!({"ID":"u"}))),
            previous_quantity: None,
        };
        let user = UserContext {
            id: Some("u".into()),
            anonymous_id: Some("anon".into()),
        };
        let (payload, missing) = hydrate("evt_1", &t, now(), &snapshot, &user);
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(payload["LineItem"]["ID"], "L2");
        assert_eq!(payload["LineItems"].as_array().unwrap().len(), 2);
        assert_eq!(payload["Products"].as_array().unwrap().len(), 2);
        assert_eq!(payload["UserContext"], json!({"ID":"u","AnonymousId":"anon"}));
        assert_eq!(payload["Date"], "2026-11-22T10:00:00.000Z");
        assert_eq!(payload["EventType"], "LineItemAdded");
    }

    #[test]
    fn unknown_references_are_listed_not_fatal() {
        let t = trigger(json!({"EventType":"OrderSubmitted","ClientID":"s","OrderID":"PO9","UserID":"ghost"}));
        let snapshot = Snapshot {
            line_items: vec![obj(json!({"ID":"L1","ProductID":"P404"}))],
            ..Default::default()
        };
        let user = UserContext {
            id: Some("ghost".into()),
            anonymous_id: None,
        };
        let (payload, missing) = hydrate("evt_2", &t, now(), &snapshot, &user);
        assert_eq!(payload["Order"], Value::Null);
        assert_eq!(
            missing,
            [
                MissingEntity {
                    kind: "User",
                    id: "ghost".into()
                },
                MissingEntity {
                    kind: "Order",
                    id: "PO9".into()
                },
                MissingEntity {
                    kind: "Product",
                    id: "P404".into()
                },
            ]
        );
    }

    #[test]
    fn a_login_carries_only_the_user() {
        let t =
            trigger(json!({"EventType":"UserLoggedIn","ClientID":"s","User":{"ID":"u","Email":"a@b.c"},"xp":{"k":1}}));
        let snapshot = Snapshot {
            user: Some(obj(json!({"ID":"u","Email":"a@b.c"}))),
            ..Default::default()
        };
        let (payload, missing) = hydrate(
            "evt_3",
            &t,
            now(),
            &snapshot,
            &UserContext {
                id: Some("u".into()),
                anonymous_id: None,
            },
        );
        assert!(missing.is_empty());
        assert_eq!(payload["User"]["Email"], "a@b.c");
        assert_eq!(payload["xp"], json!({"k":1}));
        for absent in ["Order", "LineItems", "Products", "LineItem"] {
            assert!(payload.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn the_tracking_event_is_merged_per_delivery() {
        let body = with_tracking_event(json!({"ID":"evt"}), &json!({"ID":"te","Name":"n","ConfigData":null}));
        assert_eq!(body["TrackingEvent"]["ID"], "te");
    }
}
