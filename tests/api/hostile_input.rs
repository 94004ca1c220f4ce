//! Input meant to hurt: documents nested to the parser's limits, compressed and slow bodies,
//! over-long request heads. Each gets a precise JSON error and costs other clients nothing.

use std::io::Write;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trackway::api::nesting::MAX_DEPTH;
use trackway::domain::Role;
use trackway::receiver::Receiver;

use crate::helpers::{fresh_settings, TestApp};

/// A value of `levels` nested arrays around a string.
fn arrays(levels: usize) -> Value {
    (0..levels).fold(json!("deep"), |inner, _| json!([inner]))
}

/// A LineItemAdded trigger whose `LineItem.xp` makes the body nest `depth` levels in all
/// (the body is one, `LineItem` two, `xp` the third).
fn trigger_nested(id: &str, depth: usize) -> Value {
    json!({"ID": id, "EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "buyer01",
           "OrderID": format!("PO-{id}"),
           "LineItem": {"ID": "L1", "ProductID": "P1", "Quantity": 1, "xp": arrays(depth - 2)}})
}

fn deep_field(depth: usize) -> String {
    format!("LineItem.xp{}", "[0]".repeat(depth - 3))
}

#[tokio::test]
async fn a_trigger_nested_to_the_limit_is_delivered_and_one_level_deeper_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;

    let at_limit = app.trigger(trigger_nested("at-limit", MAX_DEPTH)).await;
    assert_eq!(at_limit.status, StatusCode::ACCEPTED, "{:?}", at_limit.body);
    assert_eq!(app.deliver_all_due().await, 1);
    assert_eq!(receiver.received()[0].json()["LineItem"]["xp"], arrays(MAX_DEPTH - 2));
    let event = app
        .get(&format!("/v1/events/{}", at_limit.body["ID"].as_str().unwrap()))
        .await;
    assert_eq!(event.status, StatusCode::OK, "{:?}", event.body);

    let past = app.trigger(trigger_nested("past", MAX_DEPTH + 1)).await;
    assert_eq!(past.status, StatusCode::BAD_REQUEST, "{:?}", past.body);
    assert_eq!(past.error_code(), "NestedTooDeep");
    assert_eq!(past.body["Errors"][0]["Data"]["Field"], deep_field(MAX_DEPTH + 1));
    assert_eq!(past.body["Errors"][0]["Data"]["MaxDepth"], MAX_DEPTH);
    assert_eq!(app.count("events").await, 1);
    assert_eq!(app.count("line_items WHERE order_id = 'PO-past'").await, 0);

    // What the probe sent: close to serde_json's own limit of 128.
    let probe = app.trigger(trigger_nested("probe", 127)).await;
    assert_eq!(probe.error_code(), "NestedTooDeep");
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn in_a_batch_a_trigger_nested_too_deep_is_refused_alone() {
    let app = TestApp::spawn().await;
    let (reply, statuses) = app
        .trigger_batch(vec![
            trigger_nested("a", MAX_DEPTH),
            trigger_nested("b", MAX_DEPTH + 1),
            trigger_nested("c", 5),
        ])
        .await;
    let results = reply.body["Results"].as_array().unwrap();
    assert_eq!(statuses, [202, 400, 202]);
    assert_eq!(results[1]["Errors"]["Errors"][0]["ErrorCode"], "NestedTooDeep");
    assert_eq!(
        results[1]["Errors"]["Errors"][0]["Data"]["Field"],
        deep_field(MAX_DEPTH + 1)
    );
    assert_eq!(app.count("events").await, 2);
}

#[tokio::test]
async fn configuration_documents_nested_too_deep_are_refused_and_stored_ones_stay_readable() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    let event = |id: &str, depth: usize| {
        // ConfigData is the body's second level.
        json!({"ID": id, "Name": id, "EventType": "OrderSubmitted", "ClientID": "storefront",
               "DeliveryConfigID": "hooks", "ConfigData": arrays(depth - 1)})
    };
    let at_limit = app
        .post("/v1/integrations/trackingEvents", event("at-limit", MAX_DEPTH))
        .await;
    assert_eq!(at_limit.status, StatusCode::CREATED, "{:?}", at_limit.body);
    let past = app
        .post("/v1/integrations/trackingEvents", event("past", MAX_DEPTH + 1))
        .await;
    assert_eq!(past.status, StatusCode::BAD_REQUEST);
    assert_eq!(past.error_code(), "NestedTooDeep");
    assert_eq!(
        past.body["Errors"][0]["Data"]["Field"],
        format!("ConfigData{}", "[0]".repeat(MAX_DEPTH - 1))
    );
    let patched = app
        .patch(
            "/v1/integrations/trackingEvents/at-limit",
            json!({"ConfigData": arrays(MAX_DEPTH)}),
        )
        .await;
    assert_eq!(patched.error_code(), "NestedTooDeep");
    let product = app.put("/v1/products/P1", json!({"xp": arrays(MAX_DEPTH)})).await;
    assert_eq!(product.error_code(), "NestedTooDeep");

    // Triggers of the client whose TrackingEvent nests to the limit are accepted.
    let reply = app
        .trigger(json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    assert_eq!(
        app.get("/v1/integrations/trackingEvents/at-limit").await.status,
        StatusCode::OK
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post_encoded(app: &TestApp, encoding: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/v1/triggers", app.address))
        .bearer_auth(app.token(Role::TriggerSender))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", encoding)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn compressed_bodies_are_read_within_the_size_limit_and_unknown_encodings_refused() {
    let app = TestApp::spawn().await;
    let trigger = json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"});
    let (status, body) = post_encoded(&app, "gzip", gzip(trigger.to_string().as_bytes())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body:?}");

    let (status, body) = post_encoded(&app, "br", trigger.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["Errors"][0]["ErrorCode"], "UnsupportedContentEncoding");
    assert!(body["Errors"][0]["Message"].as_str().unwrap().contains("\"br\""));

    // Small compressed, past the 64 KiB limit once decompressed.
    let padded = format!(
        r#"{{"EventType":"OrderSubmitted","ClientID":"storefront","OrderID":"PO2","xp":{{"pad":"{}"}}}}"#,
        "a".repeat(200 * 1024)
    );
    let compressed = gzip(padded.as_bytes());
    assert!(compressed.len() < 64 * 1024);
    let (status, body) = post_encoded(&app, "gzip", compressed).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:?}");
    assert_eq!(app.count("events").await, 1);
}

/// Opens a connection and sends a trigger's head and the first byte of a body it never
/// finishes.
async fn start_slow_trigger(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/triggers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        app.token(Role::TriggerSender)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn slow_bodies_hold_their_connection_not_the_gateway_and_time_out_with_408() {
    let mut settings = fresh_settings();
    settings.server.max_concurrent_triggers = 2;
    settings.server.body_timeout_seconds = 2;
    let app = TestApp::spawn_with(settings).await;
    let mut slow = Vec::new();
    for _ in 0..6 {
        slow.push(start_slow_trigger(&app).await);
    }
    // Give the server time to have read every slow head.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let trigger = json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"});
    let reply = app.trigger(trigger).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);

    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow[0].read_to_end(&mut answer))
        .await
        .expect("the slow sender is answered and the connection closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""ErrorCode":"RequestTimeout""#), "{answer}");
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn over_long_request_targets_and_headers_get_json_errors() {
    let app = TestApp::spawn().await;
    let long = format!("/v1/events?search={}", "a".repeat(10 * 1024));
    let reply = app.get(&long).await;
    assert_eq!(reply.status, StatusCode::URI_TOO_LONG);
    assert_eq!(reply.error_code(), "UriTooLong");

    let mut request = app
        .client
        .get(format!("{}/v1/events", app.address))
        .bearer_auth(app.token(Role::FullAccess));
    for i in 0..70 {
        request = request.header(format!("x-extra-{i}"), "1");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Errors"][0]["ErrorCode"], "HeadersTooLarge");

    let response = app
        .client
        .get(format!("{}/v1/events", app.address))
        .bearer_auth(app.token(Role::FullAccess))
        .header("x-large", "b".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Errors"][0]["ErrorCode"], "HeadersTooLarge");
}
