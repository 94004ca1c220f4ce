use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

const PATH: &str = "/v1/integrations/ErrorConfig";

#[tokio::test]
async fn the_singleton_is_set_read_changed_and_unset() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get(PATH).await.status, StatusCode::NOT_FOUND);
    app.create_delivery_config("errors").await;
    app.create_delivery_config("errors2").await;

    let reply = app.put(PATH, json!({"DeliveryConfigID": "errors"})).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body, json!({"DeliveryConfigID": "errors"}));
    assert_eq!(app.get(PATH).await.body, json!({"DeliveryConfigID": "errors"}));

    let reply = app.patch(PATH, json!({"DeliveryConfigID": "errors2"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(app.get(PATH).await.body, json!({"DeliveryConfigID": "errors2"}));
    assert_eq!(
        app.put(PATH, json!({"DeliveryConfigID": "errors"})).await.status,
        StatusCode::OK
    );

    assert_eq!(app.delete(PATH).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(PATH).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(PATH).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(PATH, json!({"DeliveryConfigID": "errors"})).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn it_must_name_an_existing_delivery_config() {
    let app = TestApp::spawn().await;
    let reply = app.put(PATH, json!({"DeliveryConfigID": "ghost"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "ReferenceNotFound");
    let reply = app.put(PATH, json!({})).await;
    assert_eq!(reply.error_code(), "RequiredField");
    let reply = app.put(PATH, json!({"DeliveryConfigID": "errors", "Extra": 1})).await;
    assert_eq!(reply.error_code(), "UnknownField");
    assert_eq!(app.count("error_config").await, 0);
}

#[tokio::test]
async fn its_delivery_config_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("errors").await;
    app.put(PATH, json!({"DeliveryConfigID": "errors"})).await;
    let reply = app.delete("/v1/integrations/deliveryconfig/errors").await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.body["Errors"][0]["Data"]["UsedBy"],
        json!([{"ObjectType": "ErrorConfig", "ObjectID": "ErrorConfig"}])
    );
}
