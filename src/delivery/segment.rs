//! Segment's HTTP Tracking API (a RudderStack data plane speaks the same). Basic auth with the
//! WriteKey as user name and an empty password; `messageId` = the delivery ID, so Segment
//! deduplicates our at-least-once retries; `userId` and/or `anonymousId`; `timestamp` = when
//! the event happened. Mapping (Segment's e-commerce spec v2):
//!
//! | EventType | call | event / content |
//! | --- | --- | --- |
//! | UserLoggedIn | `identify` (traits from the User); with an anonymous ID, `/v1/batch` of `identify` + `alias` | |
//! | LineItemAdded | `track` | `Product Added` (product + `cart_id`) |
//! | LineItemUpdated | `track` | `Product Added` or `Product Removed` of the change in quantity |
//! | LineItemRemoved | `track` | `Product Removed` |
//! | CheckoutStarted | `track` | `Checkout Started` (order) |
//! | OrderSubmitted | `track` | `Order Completed` (order) |
//! | OrderRefunded | `track` | `Order Refunded` (order) |
//! | OrderCanceled | `track` | `Order Cancelled` (order) |
//! | PromotionApplied | `track` | `Coupon Applied` (the promotion applied last) |
//! | ProductViewed | `track` | `Product Viewed` (product, `value`, `currency`) |
//! | PaymentCaptured | skipped unless `ConfigData.EventNames.Segment` names a custom event | |

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::SecondsFormat;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::client::PreparedRequest;
use super::commerce::{object, quantity, some, Event, Item, Order, QuantityChange, Rendered};
use crate::domain::targets::{SegmentTarget, TargetKind};

pub fn render(event: &Event, target: &SegmentTarget) -> Rendered {
    if event.user_id().is_none() && event.anonymous_id().is_none() {
        return Rendered::Skip("Segment needs a userId or an anonymousId; the event has neither".into());
    }
    let (path, body) = match event.event_type() {
        "UserLoggedIn" => login(event),
        other => {
            let (name, properties) = match track(event, other) {
                Ok(track) => track,
                Err(reason) => return Rendered::Skip(reason),
            };
            let mut message = common(event, event.delivery_id);
            message["event"] = json!(name);
            message["properties"] = properties;
            ("track", message)
        }
    };
    let mut url = target.endpoint.clone();
    url.set_path(&format!("{}/v1/{path}", url.path().trim_end_matches('/')));
    let credentials = STANDARD.encode(format!("{}:", target.write_key.expose_secret()));
    Rendered::Request(PreparedRequest {
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), format!("Basic {credentials}")),
        ],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// A track call's event name and properties, or why there is none. The TrackingEvent's
/// `ConfigData.EventNames.Segment` renames the event, and gives the spec's missing events
/// (PaymentCaptured) a custom name.
fn track(event: &Event, event_type: &str) -> Result<(String, Value), String> {
    let renamed = event.event_name_override(TargetKind::Segment);
    let named = |name: &str| renamed.unwrap_or(name).to_owned();
    let order = || order_properties(event, &event.order().unwrap_or_default());
    Ok(match event_type {
        "LineItemAdded" | "LineItemUpdated" | "LineItemRemoved" => {
            let mut item = event.line_item().ok_or("the line item is unknown")?;
            let (name, units) = match event.quantity_change() {
                QuantityChange::Added(units) => ("Product Added", units),
                QuantityChange::Removed(units) => ("Product Removed", units),
                change => return Err(change.not_an_addition().unwrap_or_default()),
            };
            item.quantity = Some(units);
            let mut properties = product(&item);
            properties["cart_id"] = json!(event.order().and_then(|o| o.id));
            (named(name), properties)
        }
        "CheckoutStarted" => {
            let order = event.order().unwrap_or_default();
            let mut properties = order_properties(event, &order);
            properties["value"] = json!(order.discounted_subtotal());
            (named("Checkout Started"), properties)
        }
        "OrderSubmitted" => (named("Order Completed"), order()),
        "OrderRefunded" => (named("Order Refunded"), order()),
        "OrderCanceled" => (named("Order Cancelled"), order()),
        "PaymentCaptured" => match renamed {
            Some(name) => (name.to_owned(), order()),
            None => {
                return Err(
                    "Segment's e-commerce spec has no event for PaymentCaptured (name one in the TrackingEvent's \
                     ConfigData.EventNames.Segment to send it as a custom event)"
                        .into(),
                )
            }
        },
        "PromotionApplied" => {
            let promotion = event
                .last_promotion()
                .ok_or("the trigger carries no OrderPromotions: there is no coupon to report")?;
            let order_id = event.order().and_then(|o| o.id);
            let properties = object([
                ("order_id", some(&order_id)),
                ("cart_id", some(&order_id)),
                ("coupon_id", some(&promotion.code)),
                ("coupon_name", some(promotion.name.as_ref().or(promotion.code.as_ref()))),
                ("discount", some(promotion.amount)),
            ]);
            (named("Coupon Applied"), properties)
        }
        "ProductViewed" => {
            let (item, currency) = event.viewed_product().ok_or("the viewed product is unknown")?;
            let mut properties = product(&item);
            if let Some(price) = item.price {
                properties["value"] = json!(price);
            }
            if let Some(currency) = currency {
                properties["currency"] = json!(currency);
            }
            (named("Product Viewed"), properties)
        }
        other => return Err(format!("Segment's e-commerce spec has no event for {other}")),
    })
}

/// `identify`; with a linked anonymous ID also `alias`, sent together through `/v1/batch`.
fn login(event: &Event) -> (&'static str, Value) {
    let user = event.user();
    let traits = object([
        ("email", some(event.email())),
        ("firstName", some(user["FirstName"].as_str())),
        ("lastName", some(user["LastName"].as_str())),
        ("username", some(user["Username"].as_str())),
        ("phone", some(user["Phone"].as_str())),
    ]);
    let mut identify = common(event, event.delivery_id);
    identify["traits"] = traits;
    match (event.user_id(), event.anonymous_id()) {
        (Some(user_id), Some(anonymous_id)) => {
            identify["type"] = json!("identify");
            let mut alias = common(event, &format!("{}-alias", event.delivery_id));
            alias["type"] = json!("alias");
            alias["previousId"] = json!(anonymous_id);
            alias["userId"] = json!(user_id);
            ("batch", json!({"batch": [identify, alias]}))
        }
        _ => ("identify", identify),
    }
}

fn common(event: &Event, message_id: &str) -> Value {
    object([
        ("messageId", some(message_id)),
        ("userId", some(event.user_id())),
        ("anonymousId", some(event.anonymous_id())),
        (
            "timestamp",
            some(event.occurred_at().to_rfc3339_opts(SecondsFormat::Millis, true)),
        ),
        ("context", Some(context(event))),
    ])
}

/// Segment's `context`: the library, and what the trigger's `Context` says of the shopper.
fn context(event: &Event) -> Value {
    let given = event.context();
    let page = given.page.unwrap_or_default();
    let campaign = given.campaign.unwrap_or_default();
    let page = object([
        ("url", some(page.url)),
        ("path", some(page.path)),
        ("title", some(page.title)),
        ("referrer", some(&given.referrer)),
    ]);
    let campaign = object([
        ("name", some(campaign.name)),
        ("source", some(campaign.source)),
        ("medium", some(campaign.medium)),
        ("term", some(campaign.term)),
        ("content", some(campaign.content)),
    ]);
    let non_empty = |v: Value| Some(v).filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    object([
        (
            "library",
            some(json!({"name": "trackway", "version": env!("CARGO_PKG_VERSION")})),
        ),
        ("ip", some(given.ip)),
        ("userAgent", some(given.user_agent)),
        ("locale", some(given.locale)),
        ("page", non_empty(page)),
        ("campaign", non_empty(campaign)),
    ])
}

fn product(item: &Item) -> Value {
    object([
        ("product_id", some(&item.product_id)),
        ("sku", some(&item.sku)),
        ("name", some(&item.name)),
        ("price", some(item.price)),
        ("quantity", item.quantity.map(quantity)),
        ("category", some(&item.category)),
        ("brand", some(&item.brand)),
        ("variant", some(&item.variant)),
        ("url", some(&item.url)),
        ("image_url", some(&item.image_url)),
    ])
}

/// Segment's order properties (its own example: `total 27.50, subtotal 22.50, revenue 25.00,
/// discount 2.5`): `revenue` is before discounts, excluding shipping and tax (OrderCloud's
/// `Subtotal`); `subtotal` is after discounts; `total`, `shipping`, `tax` as OrderCloud has them.
fn order_properties(event: &Event, order: &Order) -> Value {
    let products: Vec<Value> = event.line_items().iter().map(product).collect();
    object([
        ("order_id", some(&order.id)),
        ("total", some(order.total)),
        ("subtotal", some(order.discounted_subtotal())),
        ("revenue", some(order.subtotal)),
        ("shipping", some(order.shipping)),
        ("tax", some(order.tax)),
        ("discount", some(order.discount)),
        ("coupon", some(&order.coupon)),
        ("currency", some(&order.currency)),
        ("products", some(products)),
    ])
}
