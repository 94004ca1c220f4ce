//! Vendor targets end to end: a trigger through `POST /v1/triggers` to a local receiver playing
//! Sitecore Send, Sitecore Discover or Segment, answering success, 4xx, 5xx and 429.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use trackway::receiver::{Receiver, Reply};

use crate::helpers::TestApp;

/// Configures `targets` for LineItemAdded and OrderSubmitted from the storefront.
async fn configure(app: &TestApp, targets: Value) {
    let reply = app
        .post(
            "/v1/integrations/deliveryconfig",
            json!({"ID": "vendor", "Name": "vendor", "DeliveryTargets": targets}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    app.create_tracking_event("te-added", "LineItemAdded", "vendor").await;
    app.create_tracking_event("te-refunded", "OrderRefunded", "vendor")
        .await;
}

fn line_item_added(n: usize) -> Value {
    json!({"EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "buyer01", "AnonymousID": "beacon-1",
           "Order": {"ID": format!("PO{n}"), "Currency": "USD"},
           "LineItem": {"ID": "L1", "ProductID": "tea", "Quantity": 2, "UnitPrice": 4.5},
           "Products": [{"ID": "tea", "Name": "Assam tea"}],
           "User": {"ID": "buyer01", "Email": "ada@example.com"}})
}

/// Sends one trigger, runs the engine once, and returns its delivery record.
async fn deliver(app: &TestApp, n: usize) -> Value {
    let accepted = app.trigger(line_item_added(n)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    app.deliver_all_due().await;
    app.delivery(accepted.body["Deliveries"][0]["ID"].as_str().unwrap())
        .await
}

/// The outcomes every vendor shares: 2xx succeeds, a 4xx is refused for good, a 5xx is
/// retried, a 429 waits for its Retry-After.
async fn check_outcomes(app: &TestApp, receiver: &Receiver) {
    receiver.script([
        Reply::status(200),
        Reply::status(400),
        Reply::status(503),
        Reply::status(429).with_header("Retry-After", "90"),
    ]);
    let ok = deliver(app, 1).await;
    assert_eq!(ok["Status"], "Succeeded", "{ok}");
    let refused = deliver(app, 2).await;
    assert_eq!(refused["Status"], "Failed", "{refused}");
    assert_eq!(refused["Attempts"][0]["ErrorKind"], "Rejected");
    let unavailable = deliver(app, 3).await;
    assert_eq!(unavailable["Status"], "Pending", "{unavailable}");
    assert_eq!(unavailable["Attempts"][0]["ErrorKind"], "Status");
    let throttled = deliver(app, 4).await;
    assert_eq!(throttled["Status"], "Pending");
    let next: chrono::DateTime<chrono::Utc> = throttled["NextAttemptAt"].as_str().unwrap().parse().unwrap();
    assert!(
        (next - app.clock.now()).num_seconds() >= 90,
        "Retry-After honoured: {throttled}"
    );
    // Both come due and succeed.
    app.advance(Duration::from_secs(100));
    app.deliver_all_due().await;
    for delivery in [&unavailable, &throttled] {
        assert_eq!(
            app.delivery(delivery["ID"].as_str().unwrap()).await["Status"],
            "Succeeded"
        );
    }
}

/// An event the vendor cannot express is Skipped: recorded, not sent, not failed.
async fn check_skip(app: &TestApp, receiver: &Receiver) {
    let before = receiver.received().len();
    let accepted = app
        .trigger(
            json!({"EventType": "OrderRefunded", "ClientID": "storefront", "UserID": "buyer01",
                        "AnonymousID": "beacon-1", "OrderID": "PO1"}),
        )
        .await;
    app.deliver_all_due().await;
    let delivery = app
        .delivery(accepted.body["Deliveries"][0]["ID"].as_str().unwrap())
        .await;
    assert_eq!(delivery["Status"], "Skipped", "{delivery}");
    assert!(delivery["LastError"].as_str().unwrap().contains("OrderRefunded"));
    assert_eq!(receiver.received().len(), before);
}

#[tokio::test]
async fn sitecore_send_end_to_end() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    configure(
        &app,
        json!({"SendEvent": {"SiteID": "0f8fad5b-d9cb-469f-a165-70867728950e", "ServiceEndpoint": receiver.origin}}),
    )
    .await;
    check_outcomes(&app, &receiver).await;
    let first = &receiver.received()[0];
    assert_eq!(first.path, "/track");
    let body = first.json();
    assert_eq!(body["actionType"], "ADDED_TO_ORDER");
    assert_eq!(body["siteId"], "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert_eq!(body["properties"][0]["product"]["itemCode"], "tea");
    check_skip(&app, &receiver).await;
}

#[tokio::test]
async fn sitecore_discover_end_to_end() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    configure(
        &app,
        json!({"DiscoverEvent": {"ClientID": "c1", "ApiKey": "01-key", "ServiceEndpoint": receiver.url}}),
    )
    .await;
    check_outcomes(&app, &receiver).await;
    let first = &receiver.received()[0];
    assert_eq!(first.header("authorization"), Some("01-key"));
    let event: Value = serde_json::from_str(first.json()["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["name"].as_str()),
        (Some("a2c"), Some("cart"))
    );
    assert_eq!(
        event["value"]["products"][0],
        json!({"sku": "tea", "price": 4.5, "quantity": 2})
    );
    assert_eq!(event["uuid"], "beacon-1", "the beacon ID is Discover's uuid");
    check_skip(&app, &receiver).await;
}

#[tokio::test]
async fn segment_end_to_end() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    configure(
        &app,
        json!({"Segment": {"WriteKey": "wk", "Endpoint": receiver.origin}}),
    )
    .await;
    app.create_tracking_event("te-login", "UserLoggedIn", "vendor").await;
    check_outcomes(&app, &receiver).await;
    let first = &receiver.received()[0];
    assert_eq!(first.path, "/v1/track");
    assert_eq!(first.header("authorization"), Some("Basic d2s6"));
    let body = first.json();
    assert_eq!(body["event"], "Product Added");
    assert_eq!(body["properties"]["cart_id"], "PO1");
    // messageId is the delivery ID: Segment deduplicates our retries.
    let retried: Vec<_> = receiver
        .received()
        .iter()
        .map(|r| r.json()["messageId"].clone())
        .collect();
    assert_eq!(retried.len(), 6);
    // The two retries go out together, in either order.
    assert!(
        retried[4..].contains(&retried[2]),
        "the 503's retry keeps its messageId"
    );
    assert!(
        retried[4..].contains(&retried[3]),
        "the 429's retry keeps its messageId"
    );

    // A login with a linked anonymous ID: identify and alias in one batch.
    let accepted = app
        .trigger(json!({"EventType": "UserLoggedIn", "ClientID": "storefront", "UserID": "buyer01", "AnonymousID": "beacon-1"}))
        .await;
    app.deliver_all_due().await;
    let login = receiver.received().last().unwrap().clone();
    assert_eq!(login.path, "/v1/batch");
    let batch = login.json();
    assert_eq!(batch["batch"][0]["type"], "identify");
    assert_eq!(
        batch["batch"][1],
        json!({
            "type": "alias", "previousId": "beacon-1", "userId": "buyer01", "anonymousId": "beacon-1",
            "messageId": format!("{}-alias", accepted.body["Deliveries"][0]["ID"].as_str().unwrap()),
            "timestamp": batch["batch"][1]["timestamp"], "context": batch["batch"][1]["context"]
        })
    );
}

#[tokio::test]
async fn vendor_endpoints_are_still_guarded() {
    let mut settings = crate::helpers::fresh_settings();
    settings.delivery.allowed_networks = String::new();
    let app = TestApp::spawn_with(settings).await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    configure(
        &app,
        json!({"Segment": {"WriteKey": "wk", "Endpoint": receiver.origin}}),
    )
    .await;
    let delivery = deliver(&app, 1).await;
    assert_eq!(delivery["Status"], "Failed");
    assert_eq!(delivery["Attempts"][0]["ErrorKind"], "ForbiddenAddress");
    assert!(receiver.received().is_empty());
}
