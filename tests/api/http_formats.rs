//! Http targets name each event's Sitecore event type, and may be sent OrderCloud's flat
//! messages (`PayloadFormat: OrderCloudMessage`) instead of the hydrated payload: the fixture
//! triggers go through `POST /v1/triggers` to a local receiver, which checks what a receiver
//! written against OrderCloud's messages would check, and that the signatures verify over the
//! bytes it got.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use trackway::receiver::{Received, Receiver};

const PATH: &str = "/v1/integrations/deliveryconfig";
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// The fixture trigger for `event_type` (the golden tests' own).
fn fixture(event_type: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/triggers/{event_type}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// DeliveryConfig `id` with an Http target to `endpoint` whose other fields are `http`, and a
/// TrackingEvent to it for each of `event_types`.
async fn configure(app: &TestApp, id: &str, endpoint: &str, http: Value, event_types: &[&str]) {
    let mut target = json!({"Endpoint": endpoint, "Secret": SECRET});
    if let (Some(target), Value::Object(fields)) = (target.as_object_mut(), http) {
        target.extend(fields);
    }
    let reply = app
        .post(PATH, json!({"ID": id, "Name": id, "DeliveryTargets": {"Http": target}}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    for event_type in event_types {
        app.create_tracking_event(&format!("{id}-{event_type}"), event_type, id)
            .await;
    }
}

/// Sends the fixture trigger for `event_type`, delivers it and returns what the receiver got.
async fn deliver(app: &TestApp, receiver: &Receiver, event_type: &str) -> Received {
    let before = receiver.received().len();
    let accepted = app.trigger(fixture(event_type)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    assert_eq!(app.deliver_all_due().await, 1, "{event_type}");
    let received = receiver.received();
    assert_eq!(received.len(), before + 1, "{event_type} was sent once");
    received[before].clone()
}

/// What a receiver checks before it reads a body: both signatures, over the bytes received.
fn assert_signed(received: &Received) {
    assert!(received.signed_with(SECRET));
    assert!(received.ordercloud_hashed_with(SECRET));
}

fn assert_named(received: &Received, name: &str) -> Value {
    assert_signed(received);
    assert_eq!(received.header("sitecore-event-type"), Some(name));
    let body = received.json();
    assert_eq!(body["SitecoreEventType"], name, "{body}");
    body
}

#[tokio::test]
async fn ordercloud_s_four_events_arrive_as_ordercloud_s_messages() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    let format = json!({"PayloadFormat": "OrderCloudMessage"});
    let events = ["UserLoggedIn", "LineItemAdded", "LineItemUpdated", "OrderSubmitted"];
    configure(&app, "oc", &receiver.url, format, &events).await;
    let user_context = json!({"ID": "buyer01", "AnonymousId": "beacon-7f3a"});

    let identified = deliver(&app, &receiver, "UserLoggedIn").await;
    let body = assert_named(&identified, "sitecore.backbone.messages.sessions.identified");
    assert_eq!(body["UserContext"], user_context);
    assert_eq!(
        (&body["Email"], &body["FirstName"], &body["LastName"]),
        (&json!("ada@example.com"), &json!("Ada"), &json!("Lovelace"))
    );
    assert!(body.get("User").is_none(), "not the hydrated payload: {body}");

    let added = deliver(&app, &receiver, "LineItemAdded").await;
    let body = assert_named(&added, "sitecore.backbone.messages.orders.lines.added");
    assert_eq!(body["UserContext"], user_context);
    assert_eq!((&body["OrderId"], &body["Currency"]), (&json!("PO1001"), &json!("USD")));
    let line = &body["LineItem"];
    assert_eq!(line["LineID"], "line-2");
    assert_eq!(line["Product"]["ProductID"], "mug");
    assert_eq!(line["Product"]["ProductName"], "Stoneware mug");
    assert_eq!(line["Product"]["Variant"]["VariantName"], "mug-blue");
    assert_eq!((&line["Quantity"], &line["Price"]), (&json!(1), &json!(12.0)));
    assert_eq!(
        (&line["LineSubTotal"], &line["LineTotal"]),
        (&json!(12.0), &json!(12.0))
    );

    let updated = deliver(&app, &receiver, "LineItemUpdated").await;
    let body = assert_named(&updated, "sitecore.backbone.messages.orders.lines.updated");
    let line = &body["LineItem"];
    assert_eq!(line["LineID"], "line-1");
    assert_eq!(
        (&line["LineSubTotal"], &line["LineTotal"]),
        (&json!(13.5), &json!(13.5))
    );
    assert_eq!(line["Product"]["Variant"], Value::Null);
    assert_eq!(line["Product"]["xp"]["sku"], "TEA-ASSAM-100");

    let submitted = deliver(&app, &receiver, "OrderSubmitted").await;
    let body = assert_named(&submitted, "sitecore.backbone.messages.orders.submitted");
    assert_eq!(body["OrderID"], "PO1001");
    assert_eq!(body["OrderStatus"], "Open");
    assert_eq!(
        (&body["OrderTotal"], &body["OrderSubtotal"]),
        (&json!(25.68), &json!(21.0))
    );
    assert_eq!(body["OrderDate"], "2026-11-22T10:00:00.000Z", "the event's date");
    assert_eq!(body["Email"], "ada@example.com");
    assert_eq!(body["Payments"][0]["ID"], "pay-1");
    assert_eq!(body["xp"], json!({}), "the order's xp: the fixture order has none");
    let lines: Vec<&Value> = body["LineItems"].as_array().unwrap().iter().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["LineID"], "line-1");
    assert_eq!(lines[1]["Product"]["ProductID"], "mug");
}

#[tokio::test]
async fn a_product_view_is_skipped_in_the_ordercloud_format() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    let format = json!({"PayloadFormat": "OrderCloudMessage"});
    configure(&app, "oc", &receiver.url, format, &["ProductViewed"]).await;
    let accepted = app.trigger(fixture("ProductViewed")).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    app.deliver_all_due().await;
    let delivery = app
        .delivery(accepted.body["Deliveries"][0]["ID"].as_str().unwrap())
        .await;
    assert_eq!(delivery["Status"], "Skipped", "{delivery}");
    assert!(
        delivery["LastError"]
            .as_str()
            .unwrap()
            .contains("no message for ProductViewed"),
        "{delivery}"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_hydrated_delivery_names_its_event_type_and_is_otherwise_the_payload() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    configure(
        &app,
        "hooks",
        &receiver.url,
        json!({}),
        &["OrderSubmitted", "CheckoutStarted"],
    )
    .await;
    let submitted = deliver(&app, &receiver, "OrderSubmitted").await;
    let body = assert_named(&submitted, "sitecore.backbone.messages.orders.submitted");
    assert_eq!(body["EventType"], "OrderSubmitted");
    assert_eq!(body["Order"]["ID"], "PO1001");
    assert_eq!(body["TrackingEvent"]["ID"], "hooks-OrderSubmitted");
    let started = deliver(&app, &receiver, "CheckoutStarted").await;
    assert_named(&started, "trackway.messages.orders.checkout.started");
}

#[tokio::test]
async fn the_test_message_is_named_too() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    let format = json!({"PayloadFormat": "OrderCloudMessage"});
    configure(&app, "oc", &receiver.url, format, &[]).await;
    let reply = app.post(&format!("{PATH}/oc/test"), json!({})).await;
    assert_eq!(reply.body[0]["Success"], true, "{:?}", reply.body);
    let received = receiver.received();
    let body = assert_named(&received[0], "trackway.messages.test");
    assert_eq!(
        body["EventType"], "Test",
        "Trackway's own message, as in the Hydrated format"
    );
}

#[tokio::test]
async fn an_unknown_payload_format_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let targets = json!({"Http": {"Endpoint": "https://hooks.example.com/h", "PayloadFormat": "Flat"}});
    let reply = app.post(PATH, json!({"Name": "n", "DeliveryTargets": targets})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "InvalidValue");
    let data = &reply.body["Errors"][0]["Data"];
    assert_eq!(data["Field"], "DeliveryTargets.Http.PayloadFormat");
    assert_eq!(data["Allowed"], json!(["Hydrated", "OrderCloudMessage"]));
    assert_eq!(app.count("delivery_configs").await, 0);
}

#[tokio::test]
async fn the_payload_format_reads_back_and_survives_a_patch_of_other_fields() {
    let app = TestApp::spawn().await;
    let format = json!({"PayloadFormat": "OrderCloudMessage"});
    configure(&app, "oc", "https://hooks.example.com/h", format, &[]).await;
    let read = app.get(&format!("{PATH}/oc")).await;
    assert_eq!(
        read.body["DeliveryTargets"]["Http"]["PayloadFormat"],
        "OrderCloudMessage"
    );

    let patched = app
        .patch(
            &format!("{PATH}/oc"),
            json!({"DeliveryTargets": {"Http": {"Endpoint": "https://hooks.example.com/new"}}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    let http = &patched.body["DeliveryTargets"]["Http"];
    assert_eq!(http["Endpoint"], "https://hooks.example.com/new");
    assert_eq!(http["PayloadFormat"], "OrderCloudMessage");
    assert_eq!(http["Secret"], "********");

    let cleared = app
        .patch(
            &format!("{PATH}/oc"),
            json!({"DeliveryTargets": {"Http": {"PayloadFormat": null}}}),
        )
        .await;
    assert!(cleared.body["DeliveryTargets"]["Http"].get("PayloadFormat").is_none());
}

#[tokio::test]
async fn a_config_without_a_payload_format_is_stored_and_read_as_before() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    configure(&app, "hooks", &receiver.url, json!({}), &["LineItemAdded"]).await;
    let http = app.get(&format!("{PATH}/hooks")).await.body["DeliveryTargets"]["Http"].clone();
    let mut fields: Vec<&str> = http.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["CustomAuthHeaderName", "CustomAuthHeaderValue", "Endpoint", "Secret"]
    );
    let stored: Option<String> = sqlx::query_scalar("SELECT targets->'Http'->>'PayloadFormat' FROM delivery_configs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, None);

    let added = deliver(&app, &receiver, "LineItemAdded").await;
    let body = assert_named(&added, "sitecore.backbone.messages.orders.lines.added");
    assert_eq!(body["LineItem"]["ID"], "line-2", "the hydrated payload");
    assert_eq!(body["Products"].as_array().unwrap().len(), 2);
}
