//! Segment's HTTP Tracking API (a RudderStack data plane speaks the same). Basic auth with the
//! WriteKey as user name and an empty password; `messageId` = the delivery ID, so Segment
//! deduplicates our at-least-once retries; `userId` and/or `anonymousId`; `timestamp` = when
//! the event happened. Mapping (Segment's e-commerce spec v2):
//!
//! | EventType | call | event / content |
//! | --- | --- | --- |
//! | UserLoggedIn | `identify` (traits from the User); with an anonymous ID, `/v1/batch` of `identify` + `alias` | |
//! | LineItemAdded | `track` | `Product Added` (product + `cart_id`) |
//! | LineItemRemoved | `track` | `Product Removed` |
//! | CheckoutStarted | `track` | `Checkout Started` (order) |
//! | OrderSubmitted | `track` | `Order Completed` (order) |
//! | OrderRefunded | `track` | `Order Refunded` (order) |
//! | OrderCanceled | `track` | `Order Cancelled` (order) |
//! | PromotionApplied | `track` | `Coupon Applied` (`order_id`, `coupon_id`, `discount`) |
//! | ProductViewed | `track` | `Product Viewed` (product) |
//! | LineItemUpdated, PaymentCaptured | skipped: the spec has no such event | |

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::SecondsFormat;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::client::PreparedRequest;
use super::commerce::{object, quantity, some, Event, Item, Order, Rendered};
use crate::domain::targets::SegmentTarget;

pub fn render(event: &Event, target: &SegmentTarget) -> Rendered {
    if event.user_id().is_none() && event.anonymous_id().is_none() {
        return Rendered::Skip("Segment needs a userId or an anonymousId; the event has neither".into());
    }
    let (path, body) = match event.event_type() {
        "UserLoggedIn" => login(event),
        other => {
            let (name, properties) = match other {
                "LineItemAdded" | "LineItemRemoved" => {
                    let Some(item) = event.line_item() else {
                        return Rendered::Skip("the line item is unknown".into());
                    };
                    let mut properties = product(&item);
                    properties["cart_id"] = json!(event.order().and_then(|o| o.id));
                    let name = if other == "LineItemAdded" {
                        "Product Added"
                    } else {
                        "Product Removed"
                    };
                    (name, properties)
                }
                "CheckoutStarted" => ("Checkout Started", order_properties(event)),
                "OrderSubmitted" => ("Order Completed", order_properties(event)),
                "OrderRefunded" => ("Order Refunded", order_properties(event)),
                "OrderCanceled" => ("Order Cancelled", order_properties(event)),
                "PromotionApplied" => {
                    let order = event.order();
                    let coupon = order.as_ref().and_then(|o| o.coupon.clone());
                    let properties = object([
                        ("order_id", some(order.as_ref().and_then(|o| o.id.clone()))),
                        ("coupon_id", some(&coupon)),
                        ("coupon_name", some(&coupon)),
                        ("discount", some(order.as_ref().and_then(|o| o.discount))),
                    ]);
                    ("Coupon Applied", properties)
                }
                "ProductViewed" => match event.viewed_product() {
                    Some(item) => ("Product Viewed", product(&item)),
                    None => return Rendered::Skip("the viewed product is unknown".into()),
                },
                other => return Rendered::Skip(format!("Segment's e-commerce spec has no event for {other}")),
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
        (
            "context",
            some(json!({"library": {"name": "trackway", "version": env!("CARGO_PKG_VERSION")}})),
        ),
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

fn order_properties(event: &Event) -> Value {
    let order = event.order().unwrap_or(Order {
        id: None,
        total: None,
        subtotal: None,
        shipping: None,
        tax: None,
        discount: None,
        currency: None,
        coupon: None,
    });
    let products: Vec<Value> = event.line_items().iter().map(product).collect();
    // Segment: subtotal and revenue are after discounts, before shipping and tax.
    let revenue = order.subtotal.map(|s| s - order.discount.unwrap_or(0.0));
    object([
        ("order_id", some(&order.id)),
        ("total", some(order.total)),
        ("subtotal", some(revenue)),
        ("revenue", some(revenue)),
        ("shipping", some(order.shipping)),
        ("tax", some(order.tax)),
        ("discount", some(order.discount)),
        ("coupon", some(&order.coupon)),
        ("currency", some(&order.currency)),
        ("products", some(products)),
    ])
}
