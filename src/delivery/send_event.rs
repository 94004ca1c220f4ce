//! Sitecore Send (the Moosend website tracker API). `POST {ServiceEndpoint}/identify` for a
//! login, `POST {ServiceEndpoint}/track` otherwise; no auth header: the website is named by
//! `siteId` in the body. Mapping:
//!
//! | EventType | actionType | properties |
//! | --- | --- | --- |
//! | UserLoggedIn | `IDENTIFY` (+ `ContactName`) | — |
//! | LineItemAdded, LineItemUpdated | `ADDED_TO_ORDER` | `[{product: item}]` |
//! | OrderSubmitted | `ORDER_COMPLETED` | `[{products: [item…], totalPrice}]` |
//! | ProductViewed | `PAGE_VIEWED` | `[{product: item}]`, `Url` = the product's `xp.url` |
//! | others | skipped: Send's tracker has no such action | |

use serde_json::{json, Value};

use super::client::PreparedRequest;
use super::commerce::{object, quantity, some, Event, Item, Rendered};
use crate::domain::targets::SendEventTarget;

pub fn render(event: &Event, target: &SendEventTarget) -> Rendered {
    let Some(contact) = event.user_id().or(event.anonymous_id()) else {
        return Rendered::Skip(
            "Sitecore Send needs a contact: the event has neither a user nor an anonymous ID".into(),
        );
    };
    let (path, action, properties, url) = match event.event_type() {
        "UserLoggedIn" => ("identify", "IDENTIFY", None, None),
        "LineItemAdded" | "LineItemUpdated" => match event.line_item() {
            Some(item) => (
                "track",
                "ADDED_TO_ORDER",
                Some(json!([{"product": product(&item)}])),
                None,
            ),
            None => return Rendered::Skip("the line item is unknown".into()),
        },
        "OrderSubmitted" => {
            let products: Vec<Value> = event.line_items().iter().map(product).collect();
            let total = event.order().and_then(|o| o.total);
            (
                "track",
                "ORDER_COMPLETED",
                Some(json!([{"products": products, "totalPrice": total.unwrap_or(0.0)}])),
                None,
            )
        }
        "ProductViewed" => match event.viewed_product() {
            Some(item) => (
                "track",
                "PAGE_VIEWED",
                Some(json!([{"product": product(&item)}])),
                item.url,
            ),
            None => return Rendered::Skip("the viewed product is unknown".into()),
        },
        other => return Rendered::Skip(format!("Sitecore Send's tracker has no action for {other}")),
    };
    let body = object([
        ("ContactId", some(contact)),
        ("ContactEmailAddress", some(event.email())),
        (
            "ContactName",
            if action == "IDENTIFY" {
                some(event.full_name())
            } else {
                None
            },
        ),
        ("siteId", some(target.site_id.to_string())),
        // The beacon's session when the platform passed it on, else one session per event.
        ("sessionId", some(event.anonymous_id().unwrap_or(event.delivery_id))),
        ("actionType", some(action)),
        ("properties", properties),
        ("Url", some(url)),
    ]);
    let mut endpoint = target.service_endpoint.clone();
    endpoint.set_path(&format!("{}/{path}", endpoint.path().trim_end_matches('/')));
    Rendered::Request(PreparedRequest {
        url: endpoint,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

fn product(item: &Item) -> Value {
    object([
        ("itemCode", some(&item.sku)),
        ("itemName", some(&item.name)),
        ("itemPrice", some(item.price.unwrap_or(0.0))),
        ("itemQuantity", Some(quantity(item.quantity.unwrap_or(1.0)))),
        ("itemTotalPrice", some(item.line_total.unwrap_or(0.0))),
        ("itemUrl", some(item.url.as_deref().unwrap_or(""))),
        ("itemImage", some(&item.image_url)),
    ])
}
