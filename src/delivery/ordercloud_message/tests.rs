//! OrderCloud's messages from hydrated payloads: each model's fields, the spellings OrderCloud
//! uses, and what is computed when the payload does not carry it.

use serde_json::{json, Value};

use super::*;

fn user() -> Value {
    json!({"ID": "buyer01", "Email": "ada@example.com", "FirstName": "Ada", "LastName": "Lovelace",
           "Locale": {"ID": "uk", "Currency": "GBP", "Language": "en-GB"}})
}

fn line_payload(line_item: Value) -> Value {
    json!({
        "EventType": "LineItemAdded", "Date": "2026-11-22T10:00:00.000Z",
        "UserContext": {"ID": "buyer01", "AnonymousId": "beacon-1", "Extra": "not OrderCloud's"},
        "Context": {"Locale": "fr-CA"},
        "Order": {"ID": "PO1", "Currency": "USD"},
        "LineItem": line_item,
        "Products": [{"ID": "tea", "Name": "Catalog tea", "Description": "Malty", "xp": {"sku": "TEA"}}],
        "User": user(),
    })
}

fn sent(payload: &Value, event_type: EventType) -> Value {
    message(payload, event_type, event_type.sitecore_event_type()).unwrap()
}

#[test]
fn sessions_identified_carries_the_user_and_where_they_are() {
    let payload = json!({"EventType": "UserLoggedIn", "UserContext": {"ID": "buyer01", "AnonymousId": "beacon-1"},
                         "User": user()});
    assert_eq!(
        sent(&payload, EventType::UserLoggedIn),
        json!({
            "UserContext": {"ID": "buyer01", "AnonymousId": "beacon-1"},
            "Language": "en", "Currency": "GBP", "Email": "ada@example.com",
            "FirstName": "Ada", "LastName": "Lovelace",
            "SitecoreEventType": "sitecore.backbone.messages.sessions.identified",
        })
    );
}

#[test]
fn without_a_user_the_session_message_still_has_every_field() {
    let payload = json!({"EventType": "UserLoggedIn", "UserContext": {"ID": null, "AnonymousId": "beacon-1"},
                         "User": null});
    let message = sent(&payload, EventType::UserLoggedIn);
    for field in ["Language", "Currency", "Email", "FirstName", "LastName"] {
        assert_eq!(message[field], Value::Null, "{field}");
    }
    assert_eq!(message["UserContext"], json!({"ID": null, "AnonymousId": "beacon-1"}));
}

#[test]
fn the_language_is_the_triggers_locale_else_the_users() {
    let mut payload = json!({"Context": {"Locale": "pt_BR"}, "User": user()});
    assert_eq!(language(&payload), "pt");
    payload["Context"] = Value::Null;
    assert_eq!(language(&payload), "en", "the User's Locale object");
    payload["User"]["Locale"] = json!("DE-at");
    assert_eq!(language(&payload), "de", "a locale string");
    payload["Context"] = json!({"Locale": ""});
    assert_eq!(language(&payload), "de", "a blank locale is no locale");
    payload["User"] = Value::Null;
    assert_eq!(language(&payload), Value::Null);
}

#[test]
fn a_line_message_uses_ordercloud_s_spellings_and_the_line_s_own_product() {
    let line = json!({
        "ID": "L1", "ProductID": "tea", "Quantity": 2, "UnitPrice": 4.5, "LineSubtotal": 9.0,
        "PromotionDiscount": 1.0, "LineTotal": 8.0, "xp": {"gift": true},
        "Product": {"ID": "tea", "Name": "Assam tea", "xp": {"sku": "TEA-ASSAM"}},
        "Variant": {"ID": "tea-100g", "Name": "100 g", "Description": "A small tin"},
    });
    assert_eq!(
        sent(&line_payload(line), EventType::LineItemAdded),
        json!({
            "UserContext": {"ID": "buyer01", "AnonymousId": "beacon-1"},
            "Language": "fr", "Currency": "USD", "Email": "ada@example.com", "OrderId": "PO1",
            "LineItem": {
                "LineID": "L1",
                "Product": {
                    "ProductID": "tea", "ProductName": "Assam tea", "ProductDescription": "Malty",
                    "Price": 4.5, "Variant": {"VariantName": "100 g", "VariantDescription": "A small tin"},
                    "xp": {"sku": "TEA-ASSAM"},
                },
                "Quantity": 2, "Price": 4.5, "LineTotal": 8.0, "LineSubTotal": 9.0, "xp": {"gift": true},
            },
            "SitecoreEventType": "sitecore.backbone.messages.orders.lines.added",
        })
    );
}

#[test]
fn line_amounts_are_computed_when_the_line_does_not_carry_them() {
    let line = json!({"ID": "L1", "ProductID": "tea", "Quantity": 3, "UnitPrice": 0.1, "PromotionDiscount": 0.05});
    let message = sent(&line_payload(line), EventType::LineItemUpdated);
    let line = &message["LineItem"];
    assert_eq!(line["LineSubTotal"], 0.3, "unit price × quantity, without float noise");
    assert_eq!(line["LineTotal"], 0.25, "LineSubTotal − PromotionDiscount");
    assert_eq!(line["xp"], json!({}));
    assert_eq!(
        line["Product"]["ProductName"], "Catalog tea",
        "the catalog product fills in"
    );
    assert_eq!(line["Product"]["xp"], json!({"sku": "TEA"}));
    assert_eq!(line["Product"]["Variant"], Value::Null);
    let no_price = json!({"ID": "L1", "ProductID": "tea", "Quantity": 3});
    let message = sent(&line_payload(no_price), EventType::LineItemAdded);
    assert_eq!(message["LineItem"]["LineSubTotal"], Value::Null);
    assert_eq!(message["LineItem"]["LineTotal"], Value::Null);
}

#[test]
fn a_variant_without_a_name_is_named_by_its_id() {
    let line = json!({"ID": "L1", "ProductID": "mug", "Variant": {"ID": "mug-blue"}});
    let message = sent(&line_payload(line), EventType::LineItemAdded);
    assert_eq!(
        message["LineItem"]["Product"]["Variant"],
        json!({"VariantName": "mug-blue", "VariantDescription": null})
    );
}

#[test]
fn a_removed_line_takes_the_line_shape_under_trackways_name() {
    let line = json!({"ID": "L1", "ProductID": "tea"});
    let message = sent(&line_payload(line), EventType::LineItemRemoved);
    assert_eq!(message["LineItem"]["LineID"], "L1");
    assert_eq!(message["SitecoreEventType"], "trackway.messages.orders.lines.removed");
}

#[test]
fn an_unknown_line_item_or_order_is_a_skip() {
    let mut payload = line_payload(Value::Null);
    let reason = message(&payload, EventType::LineItemAdded, "n").unwrap_err();
    assert!(reason.contains("line item"), "{reason}");
    payload["Order"] = Value::Null;
    let reason = message(&payload, EventType::OrderSubmitted, "n").unwrap_err();
    assert!(reason.contains("order"), "{reason}");
}

fn order_payload() -> Value {
    json!({
        "EventType": "OrderSubmitted", "Date": "2026-11-22T10:00:00.000Z",
        "UserContext": {"ID": "buyer01", "AnonymousId": null},
        "Order": {"ID": "PO1", "Status": "Open", "Currency": "EUR", "DateSubmitted": "2026-11-22T09:59:58Z",
                  "Subtotal": 21.0, "Total": 25.68, "xp": {"coupon": "WELCOME2"}},
        "LineItems": [{"ID": "L1", "ProductID": "tea", "Quantity": 1, "UnitPrice": 21.0}],
        "Products": [{"ID": "tea", "Name": "Assam tea"}],
        "Payments": [{"ID": "pay-1", "Type": "CreditCard", "Amount": 25.68}],
        "User": {"ID": "buyer01", "Email": "ada@example.com"},
    })
}

#[test]
fn orders_submitted_carries_the_order_its_lines_and_payments() {
    let message = sent(&order_payload(), EventType::OrderSubmitted);
    assert_eq!(
        message,
        json!({
            "UserContext": {"ID": "buyer01", "AnonymousId": null},
            "OrderID": "PO1", "Currency": "EUR", "Email": "ada@example.com",
            "OrderDate": "2026-11-22T09:59:58Z", "OrderStatus": "Open",
            "OrderTotal": 25.68, "OrderSubtotal": 21.0,
            "Payments": [{"ID": "pay-1", "Type": "CreditCard", "Amount": 25.68}],
            "LineItems": [{
                "LineID": "L1",
                "Product": {"ProductID": "tea", "ProductName": "Assam tea", "ProductDescription": null,
                            "Price": 21.0, "Variant": null, "xp": {}},
                "Quantity": 1, "Price": 21.0, "LineTotal": 21.0, "LineSubTotal": 21.0, "xp": {},
            }],
            "xp": {"coupon": "WELCOME2"},
            "SitecoreEventType": "sitecore.backbone.messages.orders.submitted",
        })
    );
}

#[test]
fn an_unsubmitted_order_is_dated_by_the_event_and_has_no_payments_unless_carried() {
    let mut payload = order_payload();
    payload["Order"]["DateSubmitted"] = Value::Null;
    payload.as_object_mut().unwrap().remove("Payments");
    payload["User"] = Value::Null;
    payload["Order"]["FromUser"] = json!({"Email": "from@example.com"});
    let message = sent(&payload, EventType::CheckoutStarted);
    assert_eq!(message["OrderDate"], "2026-11-22T10:00:00.000Z");
    assert_eq!(message["Payments"], json!([]));
    assert_eq!(message["Email"], "from@example.com");
    assert_eq!(
        message["SitecoreEventType"],
        "trackway.messages.orders.checkout.started"
    );
}

#[test]
fn every_order_event_takes_the_order_shape() {
    for event_type in [
        EventType::CheckoutStarted,
        EventType::PaymentCaptured,
        EventType::OrderRefunded,
        EventType::OrderCanceled,
        EventType::PromotionApplied,
    ] {
        let message = sent(&order_payload(), event_type);
        assert_eq!(message["OrderID"], "PO1", "{event_type}");
        assert_eq!(message["SitecoreEventType"], event_type.sitecore_event_type());
    }
}

#[test]
fn a_product_view_has_no_ordercloud_message() {
    let payload = json!({"EventType": "ProductViewed", "Products": [{"ID": "tea"}]});
    let reason = message(&payload, EventType::ProductViewed, "n").unwrap_err();
    assert_eq!(reason, "OrderCloud has no message for ProductViewed");
}
