//! `POST /v1/integrations/deliveryconfig/{id}/test`: every target is sent a request its vendor
//! accepts (a sample `LineItemAdded` for the vendors, the test message for Http), and the
//! reply reports what came back; nothing is reported as a success that was not sent.

use reqwest::StatusCode;
use serde_json::{json, Value};
use trackway::receiver::{Receiver, Reply};

use crate::helpers::TestApp;

const SITE_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// Creates DeliveryConfig `id` with `targets`, tests it and returns the reply's results.
async fn test_config(app: &TestApp, id: &str, targets: Value) -> Value {
    let created = app
        .post(
            "/v1/integrations/deliveryconfig",
            json!({"ID": id, "Name": id, "DeliveryTargets": targets}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let reply = app
        .post(&format!("/v1/integrations/deliveryconfig/{id}/test"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

fn result_for<'a>(results: &'a Value, target: &str) -> &'a Value {
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Target"] == target)
        .unwrap_or_else(|| panic!("no result for {target}: {results}"))
}

#[tokio::test]
async fn every_target_gets_one_sample_it_accepts_and_reports_the_answer() {
    let app = TestApp::spawn().await;
    let [http, send, discover, segment] = [
        Receiver::start().await.expect("bind a receiver"),
        Receiver::start().await.expect("bind a receiver"),
        Receiver::start().await.expect("bind a receiver"),
        Receiver::start().await.expect("bind a receiver"),
    ];
    http.always(Reply::status(201));
    discover.always(Reply::status(202));
    let results = test_config(
        &app,
        "all",
        json!({
            "Http": {"Endpoint": http.url, "Secret": "s"},
            "SendEvent": {"SiteID": SITE_ID, "ServiceEndpoint": send.origin},
            "DiscoverEvent": {"ClientID": "c1", "ApiKey": "01-key", "ServiceEndpoint": discover.url},
            "Segment": {"WriteKey": "wk", "Endpoint": segment.origin},
        }),
    )
    .await;
    for (target, receiver, status) in [
        ("SendEvent", &send, 200),
        ("DiscoverEvent", &discover, 202),
        ("Segment", &segment, 200),
        ("Http", &http, 201),
    ] {
        let result = result_for(&results, target);
        assert_eq!(result["StatusCode"], status, "{target}: {result}");
        assert_eq!(result["Success"], true, "{target}: {result}");
        assert_eq!(result["Skipped"], false, "{target}: {result}");
        assert_eq!(result["ErrorKind"], Value::Null, "{target}: {result}");
        assert_eq!(receiver.received().len(), 1, "{target} got exactly one request");
    }

    // Http: the signed test message.
    let request = &http.received()[0];
    assert_eq!(request.json()["EventType"], "Test");
    assert!(request.header("webhook-signature").is_some());

    // Sitecore Send tracker: an ADDED_TO_ORDER with the fields its payload requires.
    let request = &send.received()[0];
    assert_eq!(request.path, "/track");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    assert_eq!(body["siteId"], SITE_ID);
    assert_eq!(body["actionType"], "ADDED_TO_ORDER");
    for field in ["ContactId", "sessionId"] {
        assert!(body[field].as_str().is_some_and(|v| !v.is_empty()), "{field}: {body}");
    }
    let product = &body["properties"][0]["product"];
    assert!(product["itemCode"].as_str().is_some_and(|v| !v.is_empty()), "{body}");
    assert!(
        product["itemPrice"].is_number() && product["itemTotalPrice"].is_number(),
        "{body}"
    );
    assert!(product["itemQuantity"].is_u64(), "{body}");
    assert!(
        product["itemUrl"].as_str().is_some_and(|u| u.starts_with("https://")),
        "{body}"
    );

    // Sitecore Discover: an a2c event, string-encoded in `data`, with the API key.
    let request = &discover.received()[0];
    assert_eq!(request.header("authorization"), Some("01-key"));
    let event: Value = serde_json::from_str(request.json()["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["name"].as_str()),
        (Some("a2c"), Some("cart"))
    );
    let products = event["value"]["products"].as_array().unwrap();
    assert_eq!(products.len(), 1, "{event}");
    assert!(products[0]["sku"].is_string(), "{event}");
    assert!(products[0]["price"].is_f64(), "{event}");
    assert!(products[0]["quantity"].is_u64(), "{event}");
    assert!(event["t"].is_i64() && event["t0"].is_i64(), "{event}");
    assert!(event["uuid"].as_str().is_some_and(|v| !v.is_empty()), "{event}");

    // Segment: a Product Added track call with Basic auth and a messageId to deduplicate on.
    let request = &segment.received()[0];
    assert_eq!(request.path, "/v1/track");
    assert_eq!(request.header("authorization"), Some("Basic d2s6"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    assert_eq!(body["event"], "Product Added");
    assert!(body["userId"].is_string() || body["anonymousId"].is_string(), "{body}");
    let message_id = body["messageId"].as_str().unwrap();
    assert!(!message_id.is_empty() && message_id.len() < 100, "{message_id}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    let properties = &body["properties"];
    assert!(
        properties["product_id"].is_string() && properties["sku"].is_string(),
        "{body}"
    );
    assert!(
        properties["price"].is_number() && properties["quantity"].is_number(),
        "{body}"
    );

    assert_eq!(app.count("deliveries").await, 0, "tests are not queued");
}

#[tokio::test]
async fn unreachable_targets_report_a_connect_error() {
    let app = TestApp::spawn().await;
    let closed = "http://127.0.0.1:1/";
    let results = test_config(
        &app,
        "closed",
        json!({
            "Http": {"Endpoint": closed},
            "SendEvent": {"SiteID": SITE_ID, "ServiceEndpoint": closed},
            "DiscoverEvent": {"ClientID": "c1", "ApiKey": "01-key", "ServiceEndpoint": closed},
            "Segment": {"WriteKey": "wk", "Endpoint": closed},
        }),
    )
    .await;
    for target in ["SendEvent", "DiscoverEvent", "Segment", "Http"] {
        let result = result_for(&results, target);
        assert_eq!(result["Success"], false, "{target}: {result}");
        assert_eq!(result["Skipped"], false, "{target}: {result}");
        assert_eq!(result["ErrorKind"], "Connect", "{target}: {result}");
        assert_eq!(result["StatusCode"], Value::Null, "{target}: {result}");
        assert!(
            result["ErrorMessage"].as_str().is_some_and(|m| !m.is_empty()),
            "{target}: {result}"
        );
    }
}

#[tokio::test]
async fn a_refused_sample_reports_what_the_vendor_answered() {
    let app = TestApp::spawn().await;
    let segment = Receiver::start().await.expect("bind a receiver");
    segment.always(Reply::status(400));
    let results = test_config(
        &app,
        "refused",
        json!({"Segment": {"WriteKey": "wk", "Endpoint": segment.origin}}),
    )
    .await;
    let result = result_for(&results, "Segment");
    assert_eq!(result["Success"], false, "{result}");
    assert_eq!(result["StatusCode"], 400, "{result}");
    assert_eq!(result["ErrorKind"], "Rejected", "{result}");
    assert_eq!(result["ResponseBody"], "ok", "{result}");
    assert_eq!(segment.received().len(), 1);
}
