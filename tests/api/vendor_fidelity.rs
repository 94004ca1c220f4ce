//! What vendors receive, field by field, through the real path (trigger → hydration → engine →
//! a local receiver playing the vendor): identity and sessions on Sitecore Send, the change of a
//! LineItemUpdated, one order's money on every target, event names from a TrackingEvent's
//! ConfigData, and the trigger fields that feed them refused when malformed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use trackway::receiver::Receiver;

const SITE_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// A receiver per vendor, each target of DeliveryConfig `vendors` pointing at its own.
struct Vendors {
    send: Receiver,
    discover: Receiver,
    segment: Receiver,
}

impl Vendors {
    async fn configure(app: &TestApp, event_types: &[&str]) -> Vendors {
        let vendors = Vendors {
            send: Receiver::start().await.expect("bind a receiver"),
            discover: Receiver::start().await.expect("bind a receiver"),
            segment: Receiver::start().await.expect("bind a receiver"),
        };
        let reply = app
            .post(
                "/v1/integrations/deliveryconfig",
                json!({"ID": "vendors", "Name": "vendors", "DeliveryTargets": {
                    "SendEvent": {"SiteID": SITE_ID, "ServiceEndpoint": vendors.send.origin},
                    "DiscoverEvent": {"ClientID": "c1", "ApiKey": "01-key", "ServiceEndpoint": vendors.discover.url},
                    "Segment": {"WriteKey": "wk", "Endpoint": vendors.segment.origin}}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        for event_type in event_types {
            app.create_tracking_event(&format!("te-{event_type}"), event_type, "vendors")
                .await;
        }
        vendors
    }

    /// The bodies each vendor received, Discover's event decoded from its `data`.
    fn bodies(&self) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
        let discover = self
            .discover
            .received()
            .iter()
            .map(|r| serde_json::from_str(r.json()["data"].as_str().unwrap()).unwrap())
            .collect();
        let json = |r: &Receiver| r.received().iter().map(|r| r.json()).collect();
        (json(&self.send), discover, json(&self.segment))
    }
}

/// Sends `trigger`, runs the engine, and returns each delivery's record by target.
async fn deliver(app: &TestApp, trigger: Value) -> Vec<(String, Value)> {
    let accepted = app.trigger(trigger).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    app.deliver_all_due().await;
    let mut records = Vec::new();
    for delivery in accepted.body["Deliveries"].as_array().unwrap() {
        let record = app.delivery(delivery["ID"].as_str().unwrap()).await;
        records.push((delivery["Target"].as_str().unwrap().to_owned(), record));
    }
    records
}

fn status_of<'a>(records: &'a [(String, Value)], target: &str) -> &'a Value {
    &records.iter().find(|(t, _)| t == target).unwrap().1
}

fn line_item(quantity: u32) -> Value {
    json!({"EventType": "LineItemUpdated", "ClientID": "storefront", "UserID": "buyer01", "AnonymousID": "beacon-1",
           "Order": {"ID": "PO1", "Currency": "USD"},
           "LineItem": {"ID": "L1", "ProductID": "tea", "Quantity": quantity, "UnitPrice": 4.5},
           "Products": [{"ID": "tea", "Name": "Assam tea"}],
           "User": {"ID": "buyer01", "Email": "ada@example.com"}})
}

#[tokio::test]
async fn sitecore_send_contacts_are_beacon_ids_and_sessions_last_a_day() {
    let app = TestApp::spawn().await;
    let vendors = Vendors::configure(&app, &["LineItemAdded", "UserLoggedIn"]).await;
    let added = |anonymous: Option<&str>, context: Value| {
        let mut trigger = json!({"EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "buyer01",
            "OccurredAt": "2026-11-22T10:00:00Z", "Order": {"ID": "PO1", "Currency": "USD"},
            "LineItem": {"ID": "L1", "ProductID": "tea", "Quantity": 1, "UnitPrice": 4.5},
            "Context": context});
        if let Some(anonymous) = anonymous {
            trigger["AnonymousID"] = json!(anonymous);
        }
        trigger
    };

    // No beacon ID known for the shopper: skipped with the reason, nothing sent.
    let records = deliver(&app, added(None, json!({}))).await;
    let send = status_of(&records, "SendEvent");
    assert_eq!(send["Status"], "Skipped", "{send}");
    assert!(send["LastError"].as_str().unwrap().contains("beacon ID"), "{send}");
    assert!(vendors.send.received().is_empty());

    // With the browser's session, that session; with a page, the page as Url and itemUrl.
    let page = json!({"SessionID": "tracker-session-1", "Page": {"Url": "https://shop.example.com/cart"}});
    deliver(&app, added(Some("beacon-1"), page)).await;
    let (send, _, _) = vendors.bodies();
    assert_eq!(send[0]["ContactId"], "beacon-1", "the beacon ID, not the user ID");
    assert_eq!(send[0]["sessionId"], "tracker-session-1");
    assert_eq!(send[0]["Url"], "https://shop.example.com/cart");
    assert_eq!(
        send[0]["properties"][0]["product"]["itemUrl"],
        "https://shop.example.com/cart"
    );

    // Without one, one session per shopper and day: the same twice that day, never the
    // delivery's ID, and no empty itemUrl.
    deliver(&app, added(Some("beacon-1"), json!({}))).await;
    deliver(&app, added(Some("beacon-1"), json!({}))).await;
    let (send, _, _) = vendors.bodies();
    let derived = send[1]["sessionId"].as_str().unwrap();
    assert_eq!(derived.len(), 32, "{derived}");
    assert_eq!(send[2]["sessionId"], derived);
    assert_ne!(derived, "tracker-session-1");
    assert!(
        send[1]["properties"][0]["product"].get("itemUrl").is_none(),
        "{}",
        send[1]
    );
    assert!(send[1].get("Url").is_none(), "{}", send[1]);

    // A login without an email cannot be identified: skipped with the reason.
    let login = json!({"EventType": "UserLoggedIn", "ClientID": "storefront", "AnonymousID": "beacon-2",
                       "User": {"ID": "nomail", "Username": "nomail"}});
    let send = status_of(&deliver(&app, login).await, "SendEvent").clone();
    assert_eq!(send["Status"], "Skipped", "{send}");
    assert!(send["LastError"].as_str().unwrap().contains("email"), "{send}");
    assert_eq!(vendors.send.received().len(), 3);
}

#[tokio::test]
async fn a_line_item_update_sends_the_change_in_quantity() {
    let app = TestApp::spawn().await;
    let vendors = Vendors::configure(&app, &["LineItemUpdated"]).await;

    // Unknown line: the change cannot be told.
    let records = deliver(&app, line_item(2)).await;
    for target in ["SendEvent", "DiscoverEvent", "Segment"] {
        let record = status_of(&records, target);
        assert_eq!(record["Status"], "Skipped", "{target}: {record}");
        assert!(record["LastError"]
            .as_str()
            .unwrap()
            .contains("previous quantity is unknown"));
    }
    // 2 → 5: three added everywhere.
    deliver(&app, line_item(5)).await;
    let (send, discover, segment) = vendors.bodies();
    assert_eq!(segment[0]["event"], "Product Added");
    assert_eq!(segment[0]["properties"]["quantity"], 3);
    assert_eq!(send[0]["properties"][0]["product"]["itemQuantity"], 3);
    assert_eq!(send[0]["properties"][0]["product"]["itemTotalPrice"], 13.5);
    assert_eq!(discover[0]["value"]["products"][0]["quantity"], 3);

    // 5 → 1: four removed on Segment; Send and Discover record additions only.
    let records = deliver(&app, line_item(1)).await;
    let (_, _, segment) = vendors.bodies();
    assert_eq!(segment[1]["event"], "Product Removed");
    assert_eq!(segment[1]["properties"]["quantity"], 4);
    for target in ["SendEvent", "DiscoverEvent"] {
        let record = status_of(&records, target);
        assert_eq!(record["Status"], "Skipped", "{target}: {record}");
        assert!(
            record["LastError"].as_str().unwrap().contains("went down by 4"),
            "{record}"
        );
    }

    // 1 → 1: nothing changed, nothing sent.
    let records = deliver(&app, line_item(1)).await;
    for (target, record) in &records {
        assert_eq!(record["Status"], "Skipped", "{target}: {record}");
        assert!(record["LastError"].as_str().unwrap().contains("did not change"));
    }
    assert_eq!(
        (
            vendors.send.received().len(),
            vendors.discover.received().len(),
            vendors.segment.received().len()
        ),
        (1, 1, 2)
    );

    // Named by ID only, the line may already be stored as updated (PUT through the entity
    // API): the change cannot be told, unless the trigger says what the quantity was.
    let put = app
        .put(
            "/v1/orders/PO1/lineitems/L1",
            json!({"ProductID": "tea", "Quantity": 6, "UnitPrice": 4.5}),
        )
        .await;
    assert!(put.status.is_success(), "{:?}", put.body);
    let by_id = json!({"EventType": "LineItemUpdated", "ClientID": "storefront", "UserID": "buyer01",
                       "AnonymousID": "beacon-1", "OrderID": "PO1", "LineItemID": "L1"});
    let segment = status_of(&deliver(&app, by_id.clone()).await, "Segment").clone();
    assert_eq!(segment["Status"], "Skipped", "{segment}");
    assert!(segment["LastError"]
        .as_str()
        .unwrap()
        .contains("previous quantity is unknown"));
    let mut told = by_id;
    told["PreviousQuantity"] = json!(1);
    deliver(&app, told).await;
    let (_, _, segment) = vendors.bodies();
    assert_eq!(segment[2]["event"], "Product Added");
    assert_eq!(segment[2]["properties"]["quantity"], 5);

    // The Http payload carries the previous quantity.
    let event = app.trigger(line_item(2)).await;
    let stored = app
        .get(&format!("/v1/events/{}", event.body["ID"].as_str().unwrap()))
        .await;
    assert_eq!(stored.body["Payload"]["PreviousQuantity"], 6, "{:?}", stored.body);
}

#[tokio::test]
async fn one_order_with_a_promotion_gives_the_same_figures_on_every_target() {
    let app = TestApp::spawn().await;
    let vendors = Vendors::configure(&app, &["OrderSubmitted", "PromotionApplied"]).await;
    // Segment's own example: 25.00 of goods, 2.50 off, 3.00 shipping, 2.00 tax, 27.50 total.
    let order = json!({"ID": "PO7", "Currency": "USD", "Subtotal": 25.0, "PromotionDiscount": 2.5,
                       "ShippingCost": 3.0, "TaxCost": 2.0, "Total": 27.5, "Status": "Open"});
    let promotions = json!([{"ID": "p1", "Code": "SPRING", "Name": "Spring sale", "Amount": 2.5}]);
    let submitted = json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "UserID": "buyer01",
        "AnonymousID": "beacon-1", "Order": order, "OrderPromotions": promotions,
        "LineItems": [{"ID": "L1", "ProductID": "tea", "Quantity": 3, "UnitPrice": 5.0, "LineTotal": 12.5},
                      {"ID": "L2", "ProductID": "mug", "Quantity": 1, "UnitPrice": 10.0, "LineTotal": 10.0}],
        "User": {"ID": "buyer01", "Email": "ada@example.com"}});
    deliver(&app, submitted).await;
    let (send, discover, segment) = vendors.bodies();
    let properties = &segment[0]["properties"];
    assert_eq!(
        [
            &properties["total"],
            &properties["subtotal"],
            &properties["revenue"],
            &properties["discount"]
        ],
        [&json!(27.5), &json!(22.5), &json!(25.0), &json!(2.5)]
    );
    assert_eq!(properties["coupon"], "SPRING", "the coupon comes from OrderPromotions");
    let checkout = &discover[0]["value"]["checkout"];
    assert_eq!(
        checkout["subtotal"], properties["subtotal"],
        "Discover and Segment agree"
    );
    assert_eq!(checkout["total"], properties["total"]);
    assert_eq!(
        send[0]["properties"][0]["totalPrice"], properties["total"],
        "Send agrees"
    );
    // The discounted unit price, to the cent: 12.50 / 3.
    assert_eq!(discover[0]["value"]["products"][0]["price"], 4.17);
    assert_eq!(
        discover[0]["value"]["user"],
        json!({"id": "buyer01", "email": "ada@example.com"})
    );

    let applied = json!({"EventType": "PromotionApplied", "ClientID": "storefront", "UserID": "buyer01",
        "OrderID": "PO7", "OrderPromotions": promotions});
    deliver(&app, applied).await;
    let (_, _, segment) = vendors.bodies();
    assert_eq!(segment[1]["event"], "Coupon Applied");
    assert_eq!(
        segment[1]["properties"],
        json!({"order_id": "PO7", "cart_id": "PO7", "coupon_id": "SPRING", "coupon_name": "Spring sale",
               "discount": 2.5})
    );
}

#[tokio::test]
async fn config_data_names_custom_events_and_a_bad_one_is_refused_on_write() {
    let app = TestApp::spawn().await;
    let vendors = Vendors::configure(&app, &[]).await;
    let tracking_event = |config_data: Value| {
        json!({"Name": "payments", "EventType": "PaymentCaptured", "ClientID": "storefront",
               "DeliveryConfigID": "vendors", "ConfigData": config_data})
    };
    let refused = app
        .put(
            "/v1/integrations/trackingEvents/payments",
            tracking_event(json!({"EventNames": {"Segment": "", "DiscoverEvent": "payment"}})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let fields = refused.error_fields();
    assert_eq!(
        fields,
        ["ConfigData.EventNames.DiscoverEvent", "ConfigData.EventNames.Segment"]
    );
    assert_eq!(
        app.get("/v1/integrations/trackingEvents/payments").await.status,
        StatusCode::NOT_FOUND
    );

    let names =
        json!({"EventNames": {"Segment": "edx.bi.ecommerce.payment_completed", "SendEvent": "PAYMENT_CAPTURED"}});
    let saved = app
        .put("/v1/integrations/trackingEvents/payments", tracking_event(names))
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{:?}", saved.body);
    let captured = json!({"EventType": "PaymentCaptured", "ClientID": "storefront", "UserID": "buyer01",
        "AnonymousID": "beacon-1", "Order": {"ID": "PO9", "Currency": "USD", "Total": 12.0}});
    let records = deliver(&app, captured).await;
    assert_eq!(status_of(&records, "DiscoverEvent")["Status"], "Skipped");
    let (send, _, segment) = vendors.bodies();
    assert_eq!(segment[0]["event"], "edx.bi.ecommerce.payment_completed");
    assert_eq!(segment[0]["properties"]["order_id"], "PO9");
    assert_eq!(send[0]["actionType"], "PAYMENT_CAPTURED");
    assert_eq!(send[0]["properties"][0]["totalPrice"], 12.0);
}

#[tokio::test]
async fn malformed_context_and_promotions_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let reply = app
        .trigger(
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1",
            "Context": {"Ip": "not-an-ip", "Page": {"Url": "/cart"}},
            "OrderPromotions": [{"Amount": -2}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let fields = reply.error_fields();
    assert_eq!(
        fields,
        [
            "OrderPromotions[0].Code",
            "OrderPromotions[0].Amount",
            "Context.Ip",
            "Context.Page.Url"
        ]
    );
    let misplaced = app
        .trigger(
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1",
            "PreviousQuantity": 2}),
        )
        .await;
    assert_eq!(misplaced.status, StatusCode::BAD_REQUEST, "{:?}", misplaced.body);
    assert_eq!(misplaced.body["Errors"][0]["Data"]["Field"], "PreviousQuantity");
    assert_eq!(app.count("events").await, 0);
    let unknown = app
        .trigger(
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1",
            "Context": {"Device": "phone"}}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{:?}", unknown.body);
}

#[tokio::test]
async fn config_data_renames_the_sitecore_event_type_of_an_http_delivery() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "PaymentCaptured", &receiver.url, "s").await;
    let renamed = app
        .patch(
            "/v1/integrations/trackingEvents/hooks-PaymentCaptured",
            json!({"ConfigData": {"EventNames": {"Http": "acme.payments.completed"}}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let captured = json!({"EventType": "PaymentCaptured", "ClientID": "storefront", "OrderID": "PO9"});
    deliver(&app, captured).await;
    let request = &receiver.received()[0];
    assert_eq!(request.header("sitecore-event-type"), Some("acme.payments.completed"));
    assert_eq!(request.json()["SitecoreEventType"], "acme.payments.completed");
    let refused = app
        .patch(
            "/v1/integrations/trackingEvents/hooks-PaymentCaptured",
            json!({"ConfigData": {"EventNames": {"Http": "not a header value"}}}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["Errors"][0]["Data"]["Field"], "ConfigData.EventNames.Http");
}
