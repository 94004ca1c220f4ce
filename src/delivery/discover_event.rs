//! Sitecore Discover events: `POST {ServiceEndpoint}` with `{"data": "<event JSON as a
//! string>"}` and the ApiKey in `Authorization`. The event is `{type, name, value, t, t0,
//! user_id}` (`user_id` is the anonymous ID when known, else the user ID). Mapping:
//!
//! | EventType | type:name | value |
//! | --- | --- | --- |
//! | UserLoggedIn | `user:login` | `context.user {id, email}` |
//! | LineItemAdded, LineItemUpdated | `a2c:cart` | `products [{sku, price, quantity}]` (the changed line) |
//! | OrderSubmitted | `order:confirm` | `products [{sku, price, quantity, price_original}]`, `checkout {order_id, subtotal, total, currency}` |
//! | ProductViewed | `view:pdp` | `products [{sku}]` |
//! | others | skipped: Discover has no such event | |

use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::client::PreparedRequest;
use super::commerce::{object, quantity, some, Event, Item, Rendered};
use crate::domain::targets::DiscoverEventTarget;

pub fn render(event: &Event, target: &DiscoverEventTarget) -> Rendered {
    let Some(user) = event.anonymous_id().or(event.user_id()) else {
        return Rendered::Skip(
            "Sitecore Discover needs a user_id: the event has neither an anonymous nor a user ID".into(),
        );
    };
    let (kind, name, value) = match event.event_type() {
        "UserLoggedIn" => (
            "user",
            "login",
            json!({"context": {"user": object([("id", some(event.user_id())), ("email", some(event.email()))])}}),
        ),
        "LineItemAdded" | "LineItemUpdated" => match event.line_item() {
            Some(item) => ("a2c", "cart", json!({"products": [cart_product(&item)]})),
            None => return Rendered::Skip("the line item is unknown".into()),
        },
        "OrderSubmitted" => {
            let order = event.order();
            let products: Vec<Value> = event.line_items().iter().map(order_product).collect();
            let checkout = object([
                ("order_id", some(order.as_ref().and_then(|o| o.id.clone()))),
                ("subtotal", some(order.as_ref().and_then(|o| o.subtotal))),
                ("total", some(order.as_ref().and_then(|o| o.total))),
                ("currency", some(order.as_ref().and_then(|o| o.currency.clone()))),
            ]);
            ("order", "confirm", json!({"products": products, "checkout": checkout}))
        }
        "ProductViewed" => match event.viewed_product() {
            Some(item) => ("view", "pdp", json!({"products": [{"sku": item.sku}]})),
            None => return Rendered::Skip("the viewed product is unknown".into()),
        },
        other => return Rendered::Skip(format!("Sitecore Discover has no event for {other}")),
    };
    let t = event.occurred_at().timestamp_millis();
    let discover_event = json!({"type": kind, "name": name, "value": value, "t": t, "t0": t, "user_id": user});
    let body = json!({"data": discover_event.to_string()});
    Rendered::Request(PreparedRequest {
        url: target.service_endpoint.clone(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), target.api_key.expose_secret().to_owned()),
        ],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

fn cart_product(item: &Item) -> Value {
    object([
        ("sku", some(&item.sku)),
        ("price", some(item.price.unwrap_or(0.0))),
        ("quantity", Some(quantity(item.quantity.unwrap_or(1.0)))),
    ])
}

fn order_product(item: &Item) -> Value {
    // `price` is after discounts: the line total spread over its quantity.
    let count = item.quantity.unwrap_or(1.0);
    let discounted = item
        .line_total
        .filter(|_| count > 0.0)
        .map(|t| t / count)
        .or(item.price);
    object([
        ("sku", some(&item.sku)),
        ("price", some(discounted.unwrap_or(0.0))),
        ("quantity", Some(quantity(count))),
        ("price_original", some(item.price)),
    ])
}
