//! Triggers: what the commerce platform posts when something happens. A trigger names the
//! event and carries whatever entities the platform has at hand; [`Trigger::parse`] checks that
//! it is coherent (IDs valid, references that agree, what its event type needs) before
//! anything is written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

mod context;
mod entity;
mod promotion;

pub use context::{language_of, Campaign, Context, Page};
pub use entity::Entity;
pub use promotion::Promotion;

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
    /// OrderCloud `OrderPromotion`s applied to the order (`Code` required, `Amount`, `Name`,
    /// `LineItemID`…): every coupon code and discount a vendor receives comes from them.
    #[schema(value_type = Option<Vec<Object>>)]
    pub order_promotions: Option<Vec<Map<String, Value>>>,
    /// Where and how the shopper acted: page, session, locale, campaign.
    pub context: Option<Context>,
    /// LineItemUpdated only: the line's quantity before the update, when the platform knows
    /// it. Without it, the quantity Trackway stored for the line is used, if the trigger
    /// carries the updated `LineItem`.
    #[schema(value_type = Option<f64>)]
    pub previous_quantity: Option<serde_json::Number>,
    /// Free-form, passed through to the payload.
    #[serde(rename = "xp")]
    #[schema(value_type = Option<Object>)]
    pub xp: Option<Value>,
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
    pub promotions: Vec<Promotion>,
    pub context: Option<Context>,
    /// The line's quantity before a LineItemUpdated, as the trigger gave it.
    pub previous_quantity: Option<serde_json::Number>,
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
        let promotions = doc
            .order_promotions
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, p)| invalids.take(Promotion::parse(&format!("OrderPromotions[{i}]"), p)))
            .collect();
        let context = doc
            .context
            .as_ref()
            .and_then(|c| invalids.take(Context::parse(c)))
            .flatten();
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
            promotions,
            context,
            previous_quantity: doc.previous_quantity.clone(),
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
        if let Some(previous) = &self.previous_quantity {
            if self.event_type != EventType::LineItemUpdated {
                invalids.push(Invalid::new(
                    InvalidCode::InvalidValue,
                    "PreviousQuantity",
                    format!(
                        "PreviousQuantity is for LineItemUpdated triggers, not {}.",
                        self.event_type
                    ),
                ));
            } else if previous.as_f64().is_none_or(|q| q < 0.0) {
                invalids.push(Invalid::new(
                    InvalidCode::InvalidValue,
                    "PreviousQuantity",
                    "PreviousQuantity must be a number of at least 0.",
                ));
            }
        }
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
mod tests;
