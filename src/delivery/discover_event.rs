//! Sitecore Discover events: `POST {ServiceEndpoint}` (by default the event endpoint of the
//! customer key, `ClientID`) with `{"data": "<event JSON as a string>"}` and the ApiKey in
//! `Authorization`. The event is `{type, name, value, t, t0, uuid}`, `uuid` the beacon ID (an
//! event without one is skipped); `value.context.page` carries the locale. Mapping:
//!
//! | EventType | type:name | value |
//! | --- | --- | --- |
//! | UserLoggedIn | `user:login` | `context.user {id, email}` |
//! | LineItemAdded, LineItemUpdated | `a2c:<page>` | `products [{sku, price, quantity}]` (the units added) |
//! | OrderSubmitted | `order:confirm` | `products [{sku, price, quantity, price_original}]`, `checkout {order_id, subtotal, total, currency}`, `user {id, email}` |
//! | ProductViewed | `view:pdp` | `products [{sku}]` |
//! | others | skipped: Discover has no such event | |

use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::client::PreparedRequest;
use super::commerce::{object, quantity, some, Event, Item, QuantityChange, Rendered};
use crate::domain::targets::DiscoverEventTarget;
use crate::domain::trigger::Context;

/// The page names Discover's add-to-cart event takes (`a2c:<page>`).
const A2C_PAGES: [&str; 5] = ["home", "pdp", "category", "cart", "qview"];

pub fn render(event: &Event, target: &DiscoverEventTarget) -> Rendered {
    // `user_id` is "a unique anonymous user ID", which a commerce user ID is not: without
    // the beacon's ID there is nobody Discover knows to send the event about.
    let Some(beacon) = event.anonymous_id() else {
        return Rendered::Skip(
            "Sitecore Discover's uuid is its beacon's visitor ID (AnonymousID), and none is known for this \
             shopper: Trackway does not invent one"
                .into(),
        );
    };
    let order = event.order();
    let context = event.context();
    let (kind, name, mut value) = match event.event_type() {
        "UserLoggedIn" => ("user", "login".to_owned(), json!({"context": {"user": user(event)}})),
        "LineItemAdded" | "LineItemUpdated" => {
            let Some(mut item) = event.line_item() else {
                return Rendered::Skip("the line item is unknown".into());
            };
            match event.quantity_change() {
                QuantityChange::Added(units) => item.quantity = Some(units),
                change => return Rendered::Skip(change.not_an_addition().unwrap_or_default()),
            }
            ("a2c", a2c_page(&context), json!({"products": [cart_product(&item)]}))
        }
        "OrderSubmitted" => {
            let order = order.clone().unwrap_or_default();
            let products: Vec<Value> = event.line_items().iter().map(|i| order_product(i, &order)).collect();
            let checkout = object([
                ("order_id", some(&order.id)),
                ("subtotal", some(order.discounted_subtotal())),
                ("total", some(order.total)),
                ("currency", some(&order.currency)),
            ]);
            let mut value = json!({"products": products, "checkout": checkout});
            if event.user_id().is_some() {
                value["user"] = user(event);
            }
            ("order", "confirm".to_owned(), value)
        }
        "ProductViewed" => match event.viewed_product() {
            Some((item, _)) => ("view", "pdp".to_owned(), json!({"products": [{"sku": item.sku}]})),
            None => return Rendered::Skip("the viewed product is unknown".into()),
        },
        other => return Rendered::Skip(format!("Sitecore Discover has no event for {other}")),
    };
    if let Some(page) = locale_page(&context, order.and_then(|o| o.currency)) {
        value["context"]["page"] = page;
    }
    let t = event.occurred_at().timestamp_millis();
    // `t0` is the page's load time, which a server-side event does not have: the event's own.
    let discover_event = json!({"type": kind, "name": name, "value": value, "t": t, "t0": t, "uuid": beacon});
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

/// The user object that maps the real user ID to the uuid.
fn user(event: &Event) -> Value {
    object([("id", some(event.user_id())), ("email", some(event.email()))])
}

/// The page of an add-to-cart: the trigger's `Context.Page.Name` when it is one of Discover's
/// (`home`, `pdp`, `category`, `cart`, `qview`), else `cart`.
fn a2c_page(context: &Context) -> String {
    context
        .page
        .as_ref()
        .and_then(|p| p.name.as_deref())
        .map(|n| n.to_ascii_lowercase())
        .filter(|n| A2C_PAGES.contains(&n.as_str()))
        .unwrap_or_else(|| "cart".to_owned())
}

/// `value.context.page`'s locale fields, lowercase, as far as the trigger's `Context.Locale`
/// and the order's currency tell them.
fn locale_page(context: &Context, currency: Option<String>) -> Option<Value> {
    let language = context.language()?;
    Some(object([
        ("locale_country", some(context.country())),
        ("locale_language", some(language)),
        ("locale_currency", some(currency.map(|c| c.to_ascii_lowercase()))),
    ]))
}

fn cart_product(item: &Item) -> Value {
    object([
        ("sku", some(&item.sku)),
        ("price", some(item.price.unwrap_or(0.0))),
        ("quantity", Some(quantity(item.quantity.unwrap_or(1.0)))),
    ])
}

fn order_product(item: &Item, order: &super::commerce::Order) -> Value {
    // `price` is after discounts: the line total spread over its quantity, to the cent.
    let count = item.quantity.unwrap_or(1.0);
    let discounted = item
        .line_total
        .filter(|_| count > 0.0)
        .map(|t| order.money(t / count))
        .or(item.price);
    object([
        ("sku", some(&item.sku)),
        ("price", some(discounted.unwrap_or(0.0))),
        ("quantity", Some(quantity(count))),
        ("price_original", some(item.price)),
    ])
}
