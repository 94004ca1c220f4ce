//! `/v1/events` and `/v1/deliveries`: lists with their filters, and what a reader gets for IDs
//! that cannot exist.

use reqwest::{Method, StatusCode};
use serde_json::json;
use trackway::domain::Role;
use trackway::receiver::Receiver;

use crate::helpers::TestApp;
use crate::triggers::line_item_added;

#[tokio::test]
async fn event_and_delivery_ids_in_the_path_are_validated() {
    let app = TestApp::spawn().await;
    // A NUL reached PostgreSQL and came back as a 500; the other cases are refused alike.
    let long = "a".repeat(101);
    for id in ["%00", "a%00b", "has%20space", "%C3%BC", long.as_str()] {
        for (method, path) in [
            (Method::GET, format!("/v1/events/{id}")),
            (Method::GET, format!("/v1/deliveries/{id}")),
            (Method::POST, format!("/v1/deliveries/{id}/retry")),
        ] {
            let reply = app.call(method, &path, Some(Role::FullAccess), None).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {:?}", reply.body);
            assert_eq!(reply.error_code(), "InvalidID", "{path}");
        }
    }
    for path in ["/v1/events/evt_nope", "/v1/deliveries/dlv_nope"] {
        assert_eq!(app.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn events_and_deliveries_are_listed_with_filters() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    app.route("orders", "OrderSubmitted", &receiver.url, "s").await;
    app.trigger(line_item_added("a")).await;
    app.trigger(
        json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1", "UserID": "buyer02"}),
    )
    .await;
    app.trigger(json!({"EventType": "ProductViewed", "ClientID": "storefront", "ProductID": "P2"}))
        .await;

    let all = app.get("/v1/events").await;
    assert_eq!(all.body["Meta"]["TotalCount"], 3);
    assert!(
        all.body["Items"][0].get("Payload").is_none(),
        "lists leave payloads out"
    );
    let orders = app.get("/v1/events?EventType=OrderSubmitted").await;
    assert_eq!(orders.body["Meta"]["TotalCount"], 1);
    assert_eq!(app.get("/v1/events?UserID=buyer01").await.body["Meta"]["TotalCount"], 1);
    assert_eq!(
        app.get("/v1/events?ClientID=storefront&EventType=!ProductViewed")
            .await
            .body["Meta"]["TotalCount"],
        2
    );
    let later = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        app.get(&format!("/v1/events?ReceivedAt=>{later}")).await.body["Meta"]["TotalCount"],
        0
    );
    assert_eq!(
        app.get(&format!("/v1/events?ReceivedAt=<{later}")).await.body["Meta"]["TotalCount"],
        3
    );

    assert_eq!(
        app.get("/v1/deliveries?Status=Pending").await.body["Meta"]["TotalCount"],
        2
    );
    app.deliver_all_due().await;
    assert_eq!(
        app.get("/v1/deliveries?Status=Succeeded").await.body["Meta"]["TotalCount"],
        2
    );
    assert_eq!(
        app.get("/v1/deliveries?DeliveryConfigID=orders").await.body["Meta"]["TotalCount"],
        1
    );
    let event_id = orders.body["Items"][0]["ID"].as_str().unwrap();
    let of_event = app.get(&format!("/v1/deliveries?EventID={event_id}")).await;
    assert_eq!(of_event.body["Items"][0]["DeliveryConfigID"], "orders");
    let reader = app
        .call(Method::GET, "/v1/deliveries", Some(Role::TrackingEventReader), None)
        .await;
    assert_eq!(reader.status, StatusCode::OK);
    let sender = app
        .call(Method::GET, "/v1/deliveries", Some(Role::TriggerSender), None)
        .await;
    assert_eq!(sender.status, StatusCode::FORBIDDEN);
}
