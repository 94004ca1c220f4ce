//! The entity store through HTTP: what is written reads back the same, alone and in payloads.

use reqwest::{Method, StatusCode};
use serde_json::json;
use trackway::domain::Role;

use crate::helpers::TestApp;

#[tokio::test]
async fn extreme_numbers_read_back_as_written() {
    let app = TestApp::spawn().await;
    // PostgreSQL writes f64::MAX back as 309 digits, which a fast float parser rounded past
    // the largest f64 and refused: the read answered 500.
    let product = json!({"ID": "P1", "Price": f64::MAX, "Discount": f64::MIN, "Tiny": 5e-324, "Big": u64::MAX});
    let put = app.put("/v1/products/P1", product.clone()).await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    let got = app.get("/v1/products/P1").await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.body, product);

    let reply = app
        .trigger(json!({"EventType": "ProductViewed", "ClientID": "storefront", "ProductID": "P1"}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    let event = app
        .get(&format!("/v1/events/{}", reply.body["ID"].as_str().unwrap()))
        .await;
    assert_eq!(event.status, StatusCode::OK, "{:?}", event.body);
    assert_eq!(event.body["Payload"]["Products"], json!([product]));
}

#[tokio::test]
async fn the_entity_store_round_trips() {
    let app = TestApp::spawn().await;
    for path in [
        "/v1/products/P1",
        "/v1/users/U1",
        "/v1/orders/O1",
        "/v1/orders/O1/lineitems/L1",
    ] {
        let put = app
            .call(Method::PUT, path, Some(Role::TriggerSender), Some(json!({"Name": "x"})))
            .await;
        assert_eq!(put.status, StatusCode::OK, "{path}");
        let id = path.rsplit('/').next().unwrap();
        assert_eq!(put.body["ID"], id);
        let got = app.call(Method::GET, path, Some(Role::TriggerSender), None).await;
        assert_eq!(got.body, json!({"ID": id, "Name": "x"}), "{path}");
        let mismatch = app
            .call(
                Method::PUT,
                path,
                Some(Role::TriggerSender),
                Some(json!({"ID": "other"})),
            )
            .await;
        assert_eq!(mismatch.error_code(), "InvalidID", "{path}");
        assert_eq!(
            app.call(Method::DELETE, path, Some(Role::TriggerSender), None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.call(Method::GET, path, Some(Role::TriggerSender), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
    let reader = app
        .call(Method::GET, "/v1/products/P1", Some(Role::TrackingEventReader), None)
        .await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
}
