//! Http deliveries name each event's Sitecore event type, in the `sitecore-event-type` header
//! and the body's `SitecoreEventType`: the fixture triggers go through `POST /v1/triggers` to a
//! local receiver, which checks the name and that the signatures verify over the bytes it got.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{json, Value};
use trackway::domain::signing::{verify_ordercloud_hash, verify_standard_webhooks};

use crate::helpers::TestApp;
use crate::receiver::{Received, Receiver};

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
    let id = received.header("webhook-id").unwrap();
    let timestamp: i64 = received.header("webhook-timestamp").unwrap().parse().unwrap();
    let signature = received.header("webhook-signature").unwrap();
    assert!(verify_standard_webhooks(
        SECRET,
        id,
        timestamp,
        &received.body,
        signature
    ));
    let hash = received.header("x-oc-hash").unwrap();
    assert!(verify_ordercloud_hash(SECRET, &received.body, hash));
}

fn assert_named(received: &Received, name: &str) -> Value {
    assert_signed(received);
    assert_eq!(received.header("sitecore-event-type"), Some(name));
    let body = received.json();
    assert_eq!(body["SitecoreEventType"], name, "{body}");
    body
}

#[tokio::test]
async fn a_hydrated_delivery_names_its_event_type_and_is_otherwise_the_payload() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
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
    let receiver = Receiver::start().await;
    configure(&app, "hooks", &receiver.url, json!({}), &[]).await;
    let reply = app.post(&format!("{PATH}/hooks/test"), json!({})).await;
    assert_eq!(reply.body[0]["Success"], true, "{:?}", reply.body);
    let received = receiver.received();
    let body = assert_named(&received[0], "trackway.messages.test");
    assert_eq!(body["EventType"], "Test");
}
