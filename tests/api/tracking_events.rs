use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

const PATH: &str = "/v1/integrations/trackingEvents";

#[tokio::test]
async fn crud_round_trip() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    let created = app
        .post(
            PATH,
            json!({"ID": "orders", "Name": "Orders", "EventType": "OrderSubmitted", "ClientID": "storefront",
                   "DeliveryConfigID": "hooks", "ConfigData": {"campaign": "fall"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.headers["location"], "/v1/integrations/trackingEvents/orders");
    assert_eq!(created.body["ConfigData"], json!({"campaign": "fall"}));
    assert_eq!(app.get(&format!("{PATH}/orders")).await.body, created.body);

    let patched = app
        .patch(&format!("{PATH}/orders"), json!({"EventType": "LineItemAdded"}))
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["EventType"], "LineItemAdded");
    assert_eq!(patched.body["Name"], "Orders");

    let replaced = app
        .put(
            &format!("{PATH}/orders"),
            json!({"Name": "Logins", "EventType": "UserLoggedIn", "ClientID": "app2", "DeliveryConfigID": "hooks"}),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["ClientID"], "app2");
    assert!(replaced.body["ConfigData"].is_null());

    let put_new = app
        .put(
            &format!("{PATH}/fresh"),
            json!({"Name": "F", "EventType": "ProductViewed", "ClientID": "s", "DeliveryConfigID": "hooks"}),
        )
        .await;
    assert_eq!(put_new.status, StatusCode::CREATED);

    assert_eq!(
        app.delete(&format!("{PATH}/orders")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&format!("{PATH}/orders")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&format!("{PATH}/orders")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_event_type_is_accepted() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    for event_type in trackway::domain::EventType::ALL {
        app.create_tracking_event(&format!("te-{event_type}"), event_type.as_str(), "hooks")
            .await;
    }
    assert_eq!(app.count("tracking_events").await, 11);
}

#[tokio::test]
async fn unknown_event_type_lists_the_allowed_ones() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    let reply = app
        .post(
            PATH,
            json!({"Name": "x", "EventType": "OrderShipped", "ClientID": "s", "DeliveryConfigID": "hooks"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "InvalidEventType");
    let allowed = reply.body["Errors"][0]["Data"]["Allowed"].as_array().unwrap();
    assert_eq!(allowed.len(), 11);
    assert!(allowed.contains(&json!("OrderSubmitted")));
    assert!(reply.body["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("UserLoggedIn"));
}

#[tokio::test]
async fn required_fields_are_all_reported() {
    let app = TestApp::spawn().await;
    let reply = app.post(PATH, json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let fields = reply.error_fields();
    assert_eq!(fields, ["Name", "EventType", "ClientID", "DeliveryConfigID"]);
}

#[tokio::test]
async fn a_missing_delivery_config_is_named() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            PATH,
            json!({"Name": "x", "EventType": "OrderSubmitted", "ClientID": "s", "DeliveryConfigID": "ghost"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "ReferenceNotFound");
    assert_eq!(reply.body["Errors"][0]["Data"]["Field"], "DeliveryConfigID");
    assert_eq!(reply.body["Errors"][0]["Data"]["ObjectID"], "ghost");
    let reply = app
        .put(
            &format!("{PATH}/t"),
            json!({"Name": "x", "EventType": "OrderSubmitted", "ClientID": "s", "DeliveryConfigID": "ghost"}),
        )
        .await;
    assert_eq!(reply.error_code(), "ReferenceNotFound");
    assert_eq!(app.count("tracking_events").await, 0);
}

#[tokio::test]
async fn duplicate_id_is_409() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    app.create_tracking_event("t1", "OrderSubmitted", "hooks").await;
    let reply = app
        .post(PATH, json!({"ID": "t1", "Name": "x", "EventType": "OrderSubmitted", "ClientID": "s", "DeliveryConfigID": "hooks"}))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "IdExists");
}

#[tokio::test]
async fn a_delivery_config_in_use_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    app.create_tracking_event("b-logins", "UserLoggedIn", "hooks").await;
    app.create_tracking_event("a-orders", "OrderSubmitted", "hooks").await;
    let reply = app.delete("/v1/integrations/deliveryconfig/hooks").await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "InUse");
    assert_eq!(
        reply.body["Errors"][0]["Data"]["UsedBy"],
        json!([{"ObjectType": "TrackingEvent", "ObjectID": "a-orders"}, {"ObjectType": "TrackingEvent", "ObjectID": "b-logins"}])
    );
    let message = reply.body["Errors"][0]["Message"].as_str().unwrap();
    assert!(
        message.contains("a-orders") && message.contains("b-logins"),
        "{message}"
    );
    assert_eq!(app.count("delivery_configs").await, 1);

    app.delete(&format!("{PATH}/a-orders")).await;
    app.delete(&format!("{PATH}/b-logins")).await;
    assert_eq!(
        app.delete("/v1/integrations/deliveryconfig/hooks").await.status,
        StatusCode::NO_CONTENT
    );
}
