//! Golden tests of every (target × EventType) request. Each fixture trigger under
//! `tests/fixtures/triggers/` goes through the real ingestion path; its hydrated payload is
//! rendered by each target and compared with `tests/fixtures/golden/<Target>/<EventType>.json`
//! (URL, headers with auth, body — every request is a POST — or the reason it is skipped). The
//! Http target renders twice: as configured (the hydrated payload, `Http/`) and with
//! `PayloadFormat: OrderCloudMessage` (`HttpOrderCloudMessage/`). The triggers are sent in
//! `EventType::ALL` order into one database, so a later one sees what earlier ones stored (the
//! LineItemUpdated's previous quantity is the LineItemAdded's line).
//! `TRACKWAY_UPDATE_GOLDEN=1 scripts/test golden` rewrites the files after a deliberate change;
//! review the diff before committing it.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use trackway::delivery::commerce::Rendered;
use trackway::delivery::render;
use trackway::domain::targets::{DeliveryTargets, DeliveryTargetsDoc, TargetKind};
use trackway::domain::EventType;

use crate::helpers::TestApp;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn targets() -> DeliveryTargets {
    targets_with(json!({}))
}

/// The golden targets with `http` merged into the Http target's fields.
fn targets_with(http: Value) -> DeliveryTargets {
    let mut doc = json!({
        "Http": {"Endpoint": "https://hooks.example.com/trackway", "Secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                 "CustomAuthHeaderName": "X-Api-Key", "CustomAuthHeaderValue": "golden-header"},
        "SendEvent": {"SiteID": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        "DiscoverEvent": {"ClientID": "golden-customer", "ApiKey": "01-golden-api-key"},
        "Segment": {"WriteKey": "golden-write-key"}
    });
    if let (Some(target), Value::Object(fields)) = (doc["Http"].as_object_mut(), http) {
        target.extend(fields);
    }
    let doc: DeliveryTargetsDoc = serde_json::from_value(doc).unwrap();
    DeliveryTargets::parse("DeliveryTargets", &doc).unwrap()
}

fn describe(rendered: Rendered) -> Value {
    match rendered {
        Rendered::Skip(reason) => json!({"Skipped": reason}),
        Rendered::Request(request) => {
            let headers: serde_json::Map<String, Value> = request
                .headers
                .into_iter()
                .map(|(n, v)| (n, Value::String(v)))
                .collect();
            json!({
                "Url": request.url.as_str(),
                "Headers": headers,
                "Body": serde_json::from_slice::<Value>(&request.body).expect("bodies are JSON"),
            })
        }
    }
}

#[tokio::test]
async fn every_target_renders_every_event_type_exactly() {
    let app = TestApp::spawn().await;
    let update = std::env::var("TRACKWAY_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let now: DateTime<Utc> = "2026-11-22T10:00:05Z".parse().unwrap();
    let targets = targets();
    let ordercloud = targets_with(json!({"PayloadFormat": "OrderCloudMessage"}));
    // (folder, targets, kind): every target as configured, then Http in OrderCloud's format.
    let renderings: Vec<(String, &DeliveryTargets, TargetKind)> = TargetKind::ALL
        .into_iter()
        .map(|kind| (kind.to_string(), &targets, kind))
        .chain([("HttpOrderCloudMessage".to_owned(), &ordercloud, TargetKind::Http)])
        .collect();
    let mut mismatches = Vec::new();
    for event_type in EventType::ALL {
        let path = fixtures().join(format!("triggers/{event_type}.json"));
        let trigger: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let accepted = app.post("/v1/triggers", trigger).await;
        assert_eq!(
            accepted.status,
            StatusCode::ACCEPTED,
            "{event_type}: {:?}",
            accepted.body
        );
        let event = app
            .get(&format!("/v1/events/{}", accepted.body["ID"].as_str().unwrap()))
            .await;
        let mut payload = event.body["Payload"].clone();
        payload["ID"] = json!("evt_golden");
        payload["TrackingEvent"] = json!({"ID": "te-golden", "Name": "Golden", "ConfigData": null});
        for (folder, targets, kind) in &renderings {
            let got = describe(render(targets, *kind, &payload, "dlv_golden", now).unwrap());
            let file = fixtures().join(format!("golden/{folder}/{event_type}.json"));
            if update {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
                continue;
            }
            let expected: Value = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null);
            if got != expected {
                mismatches.push(format!(
                    "{folder} × {event_type}:\n  expected {expected}\n  got      {got}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "requests differ from their golden files:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn discover_events_carry_the_event_as_a_json_string() {
    let golden = golden("DiscoverEvent/OrderSubmitted.json");
    let event: Value = serde_json::from_str(golden["Body"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["name"].as_str()),
        (Some("order"), Some("confirm"))
    );
    assert_eq!(event["value"]["checkout"]["order_id"], "PO1001");
    assert_eq!(golden["Headers"]["authorization"], "01-golden-api-key");
}

fn golden(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("golden").join(file)).unwrap()).unwrap()
}

#[test]
fn every_http_request_names_its_event_type_in_header_and_body_alike() {
    for folder in ["Http", "HttpOrderCloudMessage"] {
        for event_type in EventType::ALL {
            let golden = golden(&format!("{folder}/{event_type}.json"));
            if golden.get("Skipped").is_some() {
                continue;
            }
            let name = event_type.sitecore_event_type();
            assert_eq!(
                golden["Headers"]["sitecore-event-type"], name,
                "{folder} × {event_type}"
            );
            assert_eq!(golden["Body"]["SitecoreEventType"], name, "{folder} × {event_type}");
        }
    }
}

#[test]
fn ordercloud_messages_keep_ordercloud_s_spellings() {
    let added = golden("HttpOrderCloudMessage/LineItemAdded.json");
    assert_eq!(added["Body"]["OrderId"], "PO1001");
    assert_eq!(added["Body"]["LineItem"]["LineSubTotal"], 12.0);
    let submitted = golden("HttpOrderCloudMessage/OrderSubmitted.json");
    assert_eq!(submitted["Body"]["OrderID"], "PO1001");
    assert!(golden("HttpOrderCloudMessage/ProductViewed.json")["Skipped"].is_string());
}
