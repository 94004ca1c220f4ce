//! The entity store through HTTP: what is written reads back the same, alone and in payloads.

use reqwest::StatusCode;
use serde_json::json;

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
