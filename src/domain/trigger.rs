//! Triggers: what the commerce platform posts when something happens. A trigger names the
//! event and carries whatever entities the platform has at hand; [`Trigger::parse`] checks that
//! it is coherent (IDs valid, references that agree, what its event type needs) before
//! anything is written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::delivery_config::id_matching_path;
use super::event_type::EventType;
use super::id::ResourceId;
use super::validation::{Invalid, InvalidCode, Invalids};

const MAX_KEY_LEN: usize = 200;

/// A trigger as posted. Entities are OrderCloud models (`Order`, `LineItem`, `Product`, `User`)
/// and must carry their `ID`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TriggerDoc {
    /// The sender's idempotency key: repeating it (same ClientID) returns the first response.
    #[serde(rename = "ID")]
    pub id: Option<String>,
    /// Required.
    #[schema(value_type = Option<EventType>)]
    pub event_type: Option<String>,
    /// Required: the API client (storefront) the event comes from.
    #[serde(rename = "ClientID")]
    pub client_id: Option<String>,
    /// RFC 3339; defaults to the time Trackway accepted the trigger.
    pub occurred_at: Option<String>,
    #[serde(rename = "UserID")]
    pub user_id: Option<String>,
    /// The anonymous (beacon) ID of the shopper.
    #[serde(rename = "AnonymousID")]
    pub anonymous_id: Option<String>,
    #[serde(rename = "OrderID")]
    pub order_id: Option<String>,
    #[serde(rename = "LineItemID")]
    pub line_item_id: Option<String>,
    #[serde(rename = "ProductID")]
    pub product_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub order: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub line_item: Option<Map<String, Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub line_items: Option<Vec<Map<String, Value>>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub products: Option<Vec<Map<String, Value>>>,
    #[schema(value_type = Option<Object>)]
    pub user: Option<Map<String, Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub payments: Option<Vec<Value>>,
    /// Free-form, passed through to the payload.
    #[serde(rename = "xp")]
    #[schema(value_type = Option<Object>)]
    pub xp: Option<Value>,
}

/// The ID a document gives itself, in `field`: none (absent or null) or a string.
fn own_id<'d>(field: &str, doc: &'d Map<String, Value>) -> Result<Option<&'d str>, Invalid> {
    match doc.get("ID") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id)),
        Some(_) => Err(Invalid::new(
            InvalidCode::InvalidId,
            field,
            format!("{field} must be a string."),
        )),
    }
}

/// An entity carried by a trigger or PUT on its own: its ID and the document as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub id: ResourceId,
    pub doc: Map<String, Value>,
}

impl Entity {
    /// An entity a trigger carries in `field`: its document must hold its ID.
    fn parse(field: &str, doc: &Map<String, Value>) -> Result<Self, Invalid> {
        let id_field = format!("{field}.ID");
        let id = match own_id(&id_field, doc)? {
            Some(id) => ResourceId::parse(&id_field, id)?,
            None => return Err(Invalid::required(&id_field)),
        };
        Ok(Entity { id, doc: doc.clone() })
    }

    /// An entity PUT at `path_id`: the document's ID, when it gives one, must be the URL's;
    /// the document is stored with it.
    pub fn at_path(path_id: &ResourceId, mut doc: Map<String, Value>) -> Result<Self, Invalid> {
        let id = id_matching_path(own_id("ID", &doc)?, path_id)?;
        doc.insert("ID".into(), Value::String(id.to_string()));
        Ok(Entity { id, doc })
    }

    /// A string field of the document, when it is a valid ID (`ProductID`, `FromUserID`).
    pub fn reference(&self, field: &str) -> Option<ResourceId> {
        self.doc
            .get(field)
            .and_then(Value::as_str)
            .and_then(|v| ResourceId::parse(field, v).ok())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub idempotency_key: Option<String>,
    pub event_type: EventType,
    pub client_id: ResourceId,
    pub occurred_at: Option<DateTime<Utc>>,
    /// The user: `UserID`, else `User.ID`, else the order's `FromUserID`.
    pub user_id: Option<ResourceId>,
    pub anonymous_id: Option<String>,
    /// The order: `OrderID`, else `Order.ID`.
    pub order_id: Option<ResourceId>,
    /// The changed line item: `LineItemID`, else `LineItem.ID`.
    pub line_item_id: Option<ResourceId>,
    pub product_id: Option<ResourceId>,
    pub order: Option<Entity>,
    pub line_item: Option<Entity>,
    pub line_items: Vec<Entity>,
    pub products: Vec<Entity>,
    pub user: Option<Entity>,
    pub payments: Option<Vec<Value>>,
    pub xp: Option<Value>,
}

impl Trigger {
    pub fn parse(doc: &TriggerDoc) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let idempotency_key = invalids.take(optional_key("ID", doc.id.as_deref())).flatten();
        let event_type = invalids.take(
            doc.event_type
                .as_deref()
                .ok_or_else(|| Invalid::required("EventType"))
                .and_then(|t| EventType::parse("EventType", t)),
        );
        let client_id = invalids.take(
            doc.client_id
                .as_deref()
                .ok_or_else(|| Invalid::required("ClientID"))
                .and_then(|c| ResourceId::parse("ClientID", c)),
        );
        let occurred_at = invalids
            .take(parse_time("OccurredAt", doc.occurred_at.as_deref()))
            .flatten();
        let anonymous_id = invalids
            .take(optional_key("AnonymousID", doc.anonymous_id.as_deref()))
            .flatten();
        let mut id = |field: &str, value: Option<&str>| {
            invalids
                .take(value.map(|v| ResourceId::parse(field, v)).transpose())
                .flatten()
        };
        let user_id = id("UserID", doc.user_id.as_deref());
        let order_id = id("OrderID", doc.order_id.as_deref());
        let line_item_id = id("LineItemID", doc.line_item_id.as_deref());
        let product_id = id("ProductID", doc.product_id.as_deref());

        let order = doc
            .order
            .as_ref()
            .and_then(|o| invalids.take(Entity::parse("Order", o)));
        let line_item = doc
            .line_item
            .as_ref()
            .and_then(|l| invalids.take(Entity::parse("LineItem", l)));
        let user = doc.user.as_ref().and_then(|u| invalids.take(Entity::parse("User", u)));
        let line_items = parse_all("LineItems", doc.line_items.as_deref(), &mut invalids);
        let products = parse_all("Products", doc.products.as_deref(), &mut invalids);
        if !invalids.is_empty() {
            return Err(invalids);
        }

        let order_id = invalids.take(agree("OrderID", order_id, order.as_ref().map(|o| o.id.clone())));
        let line_item_id = invalids.take(agree(
            "LineItemID",
            line_item_id,
            line_item.as_ref().map(|l| l.id.clone()),
        ));
        let user_id = invalids
            .take(agree("UserID", user_id, user.as_ref().map(|u| u.id.clone())))
            .flatten()
            .or_else(|| order.as_ref().and_then(|o| o.reference("FromUserID")));
        if !invalids.is_empty() {
            return Err(invalids);
        }
        let trigger = Trigger {
            idempotency_key,
            event_type: event_type.expect("checked above"),
            client_id: client_id.expect("checked above"),
            occurred_at,
            user_id,
            anonymous_id,
            order_id: order_id.flatten(),
            line_item_id: line_item_id.flatten(),
            product_id,
            order,
            line_item,
            line_items,
            products,
            user,
            payments: doc.payments.clone(),
            xp: doc.xp.clone(),
        };
        trigger.check_requirements(&mut invalids);
        invalids.finish(|| trigger)
    }

    /// What each event type cannot do without.
    fn check_requirements(&self, invalids: &mut Invalids) {
        let needs = |invalids: &mut Invalids, present: bool, what: &str| {
            if !present {
                invalids.push(Invalid::new(
                    InvalidCode::Required,
                    what,
                    format!("A {} trigger needs {what}.", self.event_type),
                ));
            }
        };
        let carries_line_items = self.line_item.is_some() || !self.line_items.is_empty();
        if carries_line_items && self.order_id.is_none() {
            needs(invalids, false, "OrderID or Order (the order its line items belong to)");
            return;
        }
        match self.event_type {
            EventType::UserLoggedIn => needs(invalids, self.user_id.is_some(), "UserID or User"),
            EventType::LineItemAdded | EventType::LineItemUpdated | EventType::LineItemRemoved => {
                needs(invalids, self.order_id.is_some(), "OrderID or Order");
                needs(invalids, self.line_item_id.is_some(), "LineItemID or LineItem");
            }
            EventType::ProductViewed => needs(
                invalids,
                self.product_id.is_some() || !self.products.is_empty(),
                "ProductID or Products",
            ),
            EventType::OrderSubmitted
            | EventType::CheckoutStarted
            | EventType::PaymentCaptured
            | EventType::OrderRefunded
            | EventType::OrderCanceled
            | EventType::PromotionApplied => needs(invalids, self.order_id.is_some(), "OrderID or Order"),
        }
    }

    /// Whether this event's payload is about an order (and so carries its line items).
    pub fn is_about_an_order(&self) -> bool {
        !matches!(self.event_type, EventType::UserLoggedIn | EventType::ProductViewed)
    }
}

fn parse_all(field: &str, docs: Option<&[Map<String, Value>]>, invalids: &mut Invalids) -> Vec<Entity> {
    docs.unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, doc)| invalids.take(Entity::parse(&format!("{field}[{i}]"), doc)))
        .collect()
}

/// A reference given both as an ID field and inside the entity must name the same thing.
fn agree(field: &str, given: Option<ResourceId>, carried: Option<ResourceId>) -> Result<Option<ResourceId>, Invalid> {
    match (given, carried) {
        (Some(given), Some(carried)) if given != carried => Err(Invalid::new(
            InvalidCode::InvalidValue,
            field,
            format!("{field} {given:?} does not match the carried entity's ID {carried:?}."),
        )),
        (given, carried) => Ok(given.or(carried)),
    }
}

fn optional_key(field: &str, value: Option<&str>) -> Result<Option<String>, Invalid> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() || v.chars().count() > MAX_KEY_LEN || v.chars().any(char::is_control) => {
            Err(Invalid::new(
                InvalidCode::InvalidValue,
                field,
                format!("{field} must be 1 to {MAX_KEY_LEN} printable characters."),
            ))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

fn parse_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, Invalid> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    Invalid::new(
                        InvalidCode::InvalidValue,
                        field,
                        format!("{field} must be an RFC 3339 time such as 2026-11-22T10:00:00Z."),
                    )
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entity_put_at_a_path_takes_its_id_from_the_url_and_refuses_another() {
        let path = ResourceId::parse("ID", "P1").unwrap();
        let doc = |id: Option<Value>| Map::from_iter(id.map(|id| ("ID".to_owned(), id)));
        for given in [None, Some(json!(null)), Some(json!("P1"))] {
            let entity = Entity::at_path(&path, doc(given)).unwrap();
            assert_eq!((entity.id.as_str(), &entity.doc["ID"]), ("P1", &json!("P1")));
        }
        let refused = |given| Entity::at_path(&path, doc(Some(given))).unwrap_err().code;
        assert_eq!(refused(json!("P2")), InvalidCode::InvalidId);
        assert_eq!(refused(json!(7)), InvalidCode::InvalidId);
        // Carried by a trigger, the same document must name itself.
        let carried = |given| Entity::parse("Product", &doc(given)).unwrap_err();
        assert_eq!(carried(Some(json!(null))).code, InvalidCode::Required);
        assert_eq!(carried(None).code, InvalidCode::Required);
        assert_eq!(carried(Some(json!(7))).field, "Product.ID");
    }

    fn parse(value: Value) -> Result<Trigger, Vec<(InvalidCode, String)>> {
        let doc: TriggerDoc = serde_json::from_value(value).unwrap();
        Trigger::parse(&doc).map_err(|e| e.0.into_iter().map(|i| (i.code, i.field)).collect())
    }

    #[test]
    fn references_come_from_ids_or_carried_entities() {
        let t = parse(json!({"EventType":"LineItemAdded","ClientID":"s",
            "Order":{"ID":"PO1","FromUserID":"buyer01"},"LineItem":{"ID":"L1","ProductID":"P1"}}))
        .unwrap();
        assert_eq!(t.order_id.unwrap().as_str(), "PO1");
        assert_eq!(t.line_item_id.unwrap().as_str(), "L1");
        assert_eq!(t.user_id.unwrap().as_str(), "buyer01");
        assert_eq!(t.line_item.unwrap().reference("ProductID").unwrap().as_str(), "P1");
    }

    #[test]
    fn each_event_type_states_what_it_needs() {
        assert_eq!(
            parse(json!({"EventType":"LineItemAdded","ClientID":"s"})).unwrap_err(),
            [
                (InvalidCode::Required, "OrderID or Order".to_owned()),
                (InvalidCode::Required, "LineItemID or LineItem".to_owned())
            ]
        );
        assert!(parse(json!({"EventType":"UserLoggedIn","ClientID":"s"})).is_err());
        assert!(parse(json!({"EventType":"UserLoggedIn","ClientID":"s","UserID":"u"})).is_ok());
        assert!(parse(json!({"EventType":"ProductViewed","ClientID":"s","ProductID":"p"})).is_ok());
        assert!(parse(json!({"EventType":"OrderSubmitted","ClientID":"s","OrderID":"o"})).is_ok());
    }

    #[test]
    fn contradicting_references_and_bad_entities_are_refused() {
        assert_eq!(
            parse(json!({"EventType":"OrderSubmitted","ClientID":"s","OrderID":"A","Order":{"ID":"B"}})).unwrap_err(),
            [(InvalidCode::InvalidValue, "OrderID".to_owned())]
        );
        assert_eq!(
            parse(json!({"EventType":"OrderSubmitted","ClientID":"s","OrderID":"A","Products":[{"ID":"ok"},{"Name":"no id"}]}))
                .unwrap_err(),
            [(InvalidCode::Required, "Products[1].ID".to_owned())]
        );
        assert_eq!(
            parse(json!({"EventType":"Shipped","ClientID":"bad id","OccurredAt":"yesterday"})).unwrap_err(),
            [
                (InvalidCode::InvalidEventType, "EventType".to_owned()),
                (InvalidCode::InvalidId, "ClientID".to_owned()),
                (InvalidCode::InvalidValue, "OccurredAt".to_owned())
            ]
        );
    }
}
