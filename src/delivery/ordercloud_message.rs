//! OrderCloud's Tracking Events message models, built from the hydrated payload, for Http
//! targets whose `PayloadFormat` is `OrderCloudMessage`: a receiver written against OrderCloud's
//! messages works unchanged. Three models, flat as OrderCloud documents them:
//! `sessions.identified` (UserLoggedIn), `orders.lines.added` / `updated` (`OrderLine`: the
//! LineItem events) and `orders.submitted` (`Order`: the order events). Field names are
//! OrderCloud's, spellings included (`OrderId` in `OrderLine`, `OrderID` in `Order`,
//! `LineSubTotal`); the one field Trackway adds is `SitecoreEventType`, so that a receiver can
//! route on the body alone. docs/destinations.md maps every field to its source.
//!
//! Payload fields read: `UserContext.{ID, AnonymousId}`, `Context.Locale`, `User.{Email,
//! FirstName, LastName, Locale}`, `Order.{ID, Currency, Status, DateSubmitted, Total, Subtotal,
//! FromUser.Email, xp}`, `LineItem`/`LineItems[].{ID, ProductID, Quantity, UnitPrice,
//! LineSubtotal, LineTotal, PromotionDiscount, Product, Variant, xp}`, `Products[].{ID, Name,
//! Description, xp}`, `Payments`, `Date`.

use serde_json::{json, Map, Value};

use super::commerce::catalog_product;
use super::http_target::EVENT_TYPE_FIELD;
use crate::domain::trigger::language_of;
use crate::domain::EventType;

/// OrderCloud's model an event is sent as.
enum Model {
    SessionIdentified,
    OrderLine,
    Order,
}

impl Model {
    /// LineItemRemoved takes the shape of the other line events, and Trackway's other order
    /// events that of `orders.submitted`: a receiver reads them the same way.
    fn of(event_type: EventType) -> Option<Model> {
        match event_type {
            EventType::UserLoggedIn => Some(Model::SessionIdentified),
            EventType::LineItemAdded | EventType::LineItemUpdated | EventType::LineItemRemoved => {
                Some(Model::OrderLine)
            }
            EventType::OrderSubmitted
            | EventType::CheckoutStarted
            | EventType::PaymentCaptured
            | EventType::OrderRefunded
            | EventType::OrderCanceled
            | EventType::PromotionApplied => Some(Model::Order),
            EventType::ProductViewed => None,
        }
    }
}

/// OrderCloud's message for an `event_type` event's `payload`, carrying `sitecore_event_type`;
/// `Err` says why there is none (the delivery is recorded as Skipped).
pub fn message(payload: &Value, event_type: EventType, sitecore_event_type: &str) -> Result<Value, String> {
    let mut message = match Model::of(event_type) {
        Some(Model::SessionIdentified) => session_identified(payload),
        Some(Model::OrderLine) => order_line(payload)?,
        Some(Model::Order) => order(payload)?,
        None => return Err(format!("OrderCloud has no message for {event_type}")),
    };
    if let Value::Object(fields) = &mut message {
        fields.insert(EVENT_TYPE_FIELD.to_owned(), json!(sitecore_event_type));
    }
    Ok(message)
}

/// `sessions.identified`.
fn session_identified(payload: &Value) -> Value {
    let user = &payload["User"];
    json!({
        "UserContext": user_context(payload),
        "Language": language(payload),
        "Currency": currency(payload),
        "Email": email(payload),
        "FirstName": user["FirstName"],
        "LastName": user["LastName"],
    })
}

/// `orders.lines.added` / `orders.lines.updated` (model `OrderLine`).
fn order_line(payload: &Value) -> Result<Value, String> {
    let line = payload["LineItem"]
        .as_object()
        .ok_or("the line item is unknown, and OrderCloud's message is about one")?;
    Ok(json!({
        "UserContext": user_context(payload),
        "Language": language(payload),
        "Currency": currency(payload),
        "Email": email(payload),
        "OrderId": payload["Order"]["ID"],
        "LineItem": line_item(payload, line),
    }))
}

/// `orders.submitted` (model `Order`).
fn order(payload: &Value) -> Result<Value, String> {
    let order = payload["Order"]
        .as_object()
        .ok_or("the order is unknown, and OrderCloud's message is about one")?;
    let line_items: Vec<Value> = payload["LineItems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|line| line_item(payload, line))
        .collect();
    let order_date = present(order, "DateSubmitted").unwrap_or(&payload["Date"]);
    Ok(json!({
        "UserContext": user_context(payload),
        "OrderID": order.get("ID"),
        "Currency": currency(payload),
        "Email": email(payload),
        "OrderDate": order_date,
        "OrderStatus": order.get("Status"),
        "OrderTotal": order.get("Total"),
        "OrderSubtotal": order.get("Subtotal"),
        "Payments": payload.get("Payments").filter(|p| p.is_array()).unwrap_or(&json!([])),
        "LineItems": line_items,
        "xp": present(order, "xp").unwrap_or(&json!({})),
    }))
}

/// A `LineItem` of the messages: the line joined with its product. The product fields are the
/// line's own `Product` (OrderCloud's `LineItemProduct`, what the line was added with), else
/// those of the catalog product the payload carries.
fn line_item(payload: &Value, line: &Map<String, Value>) -> Value {
    let snapshot = line.get("Product").and_then(Value::as_object);
    let product_id = present(line, "ProductID").or_else(|| snapshot.and_then(|p| present(p, "ID")));
    let catalog = product_id
        .and_then(Value::as_str)
        .and_then(|id| catalog_product(payload, id));
    let product = |field: &str| {
        snapshot
            .and_then(|p| present(p, field))
            .or_else(|| catalog.and_then(|p| present(p, field)))
    };
    let unit_price = line.get("UnitPrice");
    let (sub_total, total) = line_amounts(line);
    json!({
        "LineID": line.get("ID"),
        "Product": {
            "ProductID": product_id,
            "ProductName": product("Name"),
            "ProductDescription": product("Description"),
            "Price": unit_price,
            "Variant": variant(line),
            "xp": product("xp").unwrap_or(&json!({})),
        },
        "Quantity": line.get("Quantity"),
        "Price": unit_price,
        "LineTotal": total,
        "LineSubTotal": sub_total,
        "xp": present(line, "xp").unwrap_or(&json!({})),
    })
}

/// `LineSubTotal` and `LineTotal`: as the line carries them (OrderCloud computes both), else
/// LineSubTotal = unit price × Quantity and LineTotal = LineSubTotal − PromotionDiscount.
fn line_amounts(line: &Map<String, Value>) -> (Value, Value) {
    let number = |field: &str| line.get(field).and_then(Value::as_f64);
    let sub_total = number("LineSubtotal").or_else(|| Some(amount(number("UnitPrice")? * number("Quantity")?)));
    let total =
        number("LineTotal").or_else(|| sub_total.map(|s| amount(s - number("PromotionDiscount").unwrap_or(0.0))));
    (json!(sub_total), json!(total))
}

/// A computed amount, rounded to 4 decimal places: past any currency's minor unit, so it only
/// removes binary floating-point noise (0.1 × 3 is 0.30000000000000004).
fn amount(value: f64) -> f64 {
    (value * 1e4).round() / 1e4
}

/// `Variant {VariantName, VariantDescription}` of the line's variant, `null` without one. The
/// message has no variant ID, so a variant without a Name is named by its ID.
fn variant(line: &Map<String, Value>) -> Value {
    match line.get("Variant").and_then(Value::as_object) {
        None => Value::Null,
        Some(variant) => json!({
            "VariantName": present(variant, "Name").or_else(|| present(variant, "ID")),
            "VariantDescription": variant.get("Description"),
        }),
    }
}

fn user_context(payload: &Value) -> Value {
    let user = &payload["UserContext"];
    json!({"ID": user["ID"], "AnonymousId": user["AnonymousId"]})
}

/// The language part of the locale the event happened in: the trigger's `Context.Locale`, else
/// the User's `Locale` (OrderCloud's Locale object, or a locale string).
fn language(payload: &Value) -> Value {
    let user_locale = &payload["User"]["Locale"];
    [
        payload["Context"]["Locale"].as_str(),
        user_locale.as_str(),
        user_locale["Language"].as_str(),
    ]
    .into_iter()
    .flatten()
    .find_map(language_of)
    .map_or(Value::Null, Value::from)
}

/// The order's currency, else that of the User's Locale; `null` when neither is known.
fn currency(payload: &Value) -> Value {
    first_text([&payload["Order"]["Currency"], &payload["User"]["Locale"]["Currency"]])
}

/// The User's email, else that of the order's `FromUser`.
fn email(payload: &Value) -> Value {
    first_text([&payload["User"]["Email"], &payload["Order"]["FromUser"]["Email"]])
}

/// The first of `candidates` that is a string, else `null`.
fn first_text<const N: usize>(candidates: [&Value; N]) -> Value {
    candidates
        .into_iter()
        .find(|c| c.is_string())
        .cloned()
        .unwrap_or(Value::Null)
}

/// A field's value unless it is absent or `null`.
fn present<'a>(map: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    map.get(field).filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests;
