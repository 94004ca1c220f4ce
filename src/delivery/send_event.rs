//! Sitecore Send (the Moosend website tracker API). `POST {ServiceEndpoint}/identify` for a
//! login, `POST {ServiceEndpoint}/track` otherwise; no auth header: the website is named by
//! `siteId` in the body. Mapping:
//!
//! `ContactId` is the shopper's beacon ID (the tracker's own visitor ID), `sessionId` the
//! trigger's `Context.SessionID`, else one per shopper and day; `Url` the product's page or the
//! page the trigger came from.
//!
//! | EventType | actionType | properties |
//! | --- | --- | --- |
//! | UserLoggedIn | `IDENTIFY` (+ `ContactName`); skipped without an email | — |
//! | LineItemAdded, LineItemUpdated | `ADDED_TO_ORDER` of the units added | `[{product: item}]` |
//! | OrderSubmitted | `ORDER_COMPLETED` | `[{products: [item…], totalPrice}]` |
//! | ProductViewed | `PAGE_VIEWED` | `[{product: item}]` |
//! | others | skipped, unless `ConfigData.EventNames.SendEvent` names a custom action | |

use chrono::SecondsFormat;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::client::PreparedRequest;
use super::commerce::{object, quantity, some, Event, Item, QuantityChange, Rendered};
use crate::domain::money;
use crate::domain::targets::{SendEventTarget, TargetKind};

pub fn render(event: &Event, target: &SendEventTarget) -> Rendered {
    let Some(contact) = event.anonymous_id() else {
        return Rendered::Skip(
            "Sitecore Send's ContactId is its tracker's own visitor ID (the beacon ID, AnonymousID), and no \
             beacon ID is known for this shopper: Trackway does not invent one"
                .into(),
        );
    };
    let renamed = event.event_name_override(TargetKind::SendEvent);
    let context = event.context();
    let page_url = context.page.and_then(|p| p.url);
    let currency = event.order().and_then(|o| o.currency);
    let (path, action, properties, url) = match event.event_type() {
        "UserLoggedIn" => {
            if event.email().is_none() {
                return Rendered::Skip("Sitecore Send's IDENTIFY needs an email address, and the user has none".into());
            }
            ("identify", "IDENTIFY", None, page_url)
        }
        "LineItemAdded" | "LineItemUpdated" => {
            let Some(mut item) = event.line_item() else {
                return Rendered::Skip("the line item is unknown".into());
            };
            match event.quantity_change() {
                QuantityChange::Added(units) => added(&mut item, units, currency.as_deref()),
                change => return Rendered::Skip(change.not_an_addition().unwrap_or_default()),
            }
            let url = item.url.clone().or(page_url);
            let properties = json!([{"product": product(&item, url.as_deref())}]);
            ("track", "ADDED_TO_ORDER", Some(properties), url)
        }
        "OrderSubmitted" => (
            "track",
            "ORDER_COMPLETED",
            Some(order(event, page_url.as_deref())),
            page_url,
        ),
        "ProductViewed" => {
            let Some((item, _)) = event.viewed_product() else {
                return Rendered::Skip("the viewed product is unknown".into());
            };
            let url = item.url.clone().or(page_url);
            let properties = json!([{"product": product(&item, url.as_deref())}]);
            ("track", "PAGE_VIEWED", Some(properties), url)
        }
        // The tracker sends any other actionType as a custom action: a TrackingEvent that
        // names one sends these too.
        "LineItemRemoved" if renamed.is_some() => {
            let Some(item) = event.line_item() else {
                return Rendered::Skip("the line item is unknown".into());
            };
            let url = item.url.clone().or(page_url);
            let properties = json!([{"product": product(&item, url.as_deref())}]);
            ("track", "", Some(properties), url)
        }
        "CheckoutStarted" | "PaymentCaptured" | "OrderRefunded" | "OrderCanceled" | "PromotionApplied"
            if renamed.is_some() =>
        {
            ("track", "", Some(order(event, page_url.as_deref())), page_url)
        }
        other => {
            return Rendered::Skip(format!(
                "Sitecore Send's tracker has no action for {other} (name a custom one in the TrackingEvent's \
                 ConfigData.EventNames.SendEvent to send it)"
            ))
        }
    };
    let action = renamed.filter(|_| action != "IDENTIFY").unwrap_or(action);
    let session = context
        .session_id
        .unwrap_or_else(|| daily_session(target, contact, event));
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
        ("sessionId", some(session)),
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

/// The tracker keeps a session for a day; without the browser's, the shopper's events of one
/// (UTC) day share one: 32 hex digits, the shape of the tracker's own session IDs.
fn daily_session(target: &SendEventTarget, contact: &str, event: &Event) -> String {
    let day = event.occurred_at().to_rfc3339_opts(SecondsFormat::Secs, true);
    let digest = Sha256::digest(format!("{}\n{contact}\n{}", target.site_id, &day[..10]));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The line as added: `units` of it, priced at its unit price.
fn added(item: &mut Item, units: f64, currency: Option<&str>) {
    if item.quantity != Some(units) {
        item.line_total = item.price.map(|p| money::round(p * units, currency));
    }
    item.quantity = Some(units);
}

fn order(event: &Event, page_url: Option<&str>) -> Value {
    let products: Vec<Value> = event
        .line_items()
        .iter()
        .map(|item| product(item, item.url.as_deref().or(page_url)))
        .collect();
    let total = event.order().and_then(|o| o.total);
    json!([{"products": products, "totalPrice": total.unwrap_or(0.0)}])
}

/// The tracker's product; `itemUrl` is the product's page, else the page the trigger came
/// from, and left out when neither is known (never an empty string).
fn product(item: &Item, url: Option<&str>) -> Value {
    object([
        ("itemCode", some(&item.sku)),
        ("itemName", some(&item.name)),
        ("itemPrice", some(item.price.unwrap_or(0.0))),
        ("itemQuantity", Some(quantity(item.quantity.unwrap_or(1.0)))),
        ("itemTotalPrice", some(item.line_total.unwrap_or(0.0))),
        ("itemUrl", some(url)),
        ("itemImage", some(&item.image_url)),
    ])
}
