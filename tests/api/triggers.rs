//! Ingestion: triggers, hydration, identity stitching, idempotency, the entity store.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trackway::domain::Role;
use trackway::receiver::Receiver;

use crate::helpers::TestApp;

pub fn line_item_added(id: &str) -> Value {
    json!({
        "ID": id, "EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "buyer01",
        "Order": {"ID": "PO1", "FromUserID": "buyer01", "Total": 30},
        "LineItem": {"ID": "L2", "ProductID": "P2", "Quantity": 1, "UnitPrice": 10},
        "Products": [{"ID": "P2", "Name": "Mug"}],
        "User": {"ID": "buyer01", "Email": "b@example.com"}
    })
}

#[tokio::test]
async fn a_trigger_is_accepted_hydrated_and_delivered_signed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s3cret").await;
    // The store already knows another line item of the order and its product.
    app.put("/v1/orders/PO1/lineitems/L1", json!({"ProductID": "P1", "Quantity": 2}))
        .await;
    app.put("/v1/products/P1", json!({"Name": "Tea"})).await;

    let reply = app.trigger(line_item_added("t-1")).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    let event_id = reply.body["ID"].as_str().unwrap().to_owned();
    assert!(event_id.starts_with("evt_"));
    assert_eq!(reply.body["MissingEntities"], json!([]));
    let deliveries = reply.body["Deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["Target"], "Http");
    assert_eq!(deliveries[0]["TrackingEventID"], "hooks-LineItemAdded");
    let delivery_id = deliveries[0]["ID"].as_str().unwrap().to_owned();

    assert_eq!(app.deliver_all_due().await, 1);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("webhook-id"), Some(delivery_id.as_str()));
    assert!(request.signed_with("s3cret"));
    assert!(request.ordercloud_hashed_with("s3cret"));

    let body = request.json();
    assert_eq!(body["ID"], event_id);
    assert_eq!(body["EventType"], "LineItemAdded");
    assert_eq!(body["LineItem"]["ID"], "L2");
    assert_eq!(body["Order"]["ID"], "PO1");
    let line_items: Vec<&str> = body["LineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ID"].as_str().unwrap())
        .collect();
    assert_eq!(line_items, ["L1", "L2"]);
    let products: Vec<&str> = body["Products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ID"].as_str().unwrap())
        .collect();
    assert_eq!(products, ["P1", "P2"]);
    assert_eq!(body["User"]["Email"], "b@example.com");
    assert_eq!(body["UserContext"]["ID"], "buyer01");
    assert_eq!(body["TrackingEvent"]["ID"], "hooks-LineItemAdded");

    let delivery = app.delivery(&delivery_id).await;
    assert_eq!(delivery["Status"], "Succeeded");
    assert_eq!(delivery["AttemptCount"], 1);
    assert_eq!(delivery["Attempts"][0]["StatusCode"], 200);
    assert_eq!(delivery["Attempts"][0]["ResponseBody"], "ok");
}

#[tokio::test]
async fn the_payload_is_a_snapshot_taken_at_accept_time() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    app.put("/v1/orders/PO7", json!({"FromUserID": "u7", "Total": 10}))
        .await;
    let reply = app
        .trigger(json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO7"}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    app.put("/v1/orders/PO7", json!({"FromUserID": "u7", "Total": 999}))
        .await;
    app.deliver_all_due().await;
    assert_eq!(receiver.received()[0].json()["Order"]["Total"], 10);
    let event = app
        .get(&format!("/v1/events/{}", reply.body["ID"].as_str().unwrap()))
        .await;
    assert_eq!(event.body["Payload"]["Order"]["Total"], 10);
    assert_eq!(event.body["UserID"], "u7");
    assert_eq!(event.body["Deliveries"][0]["Status"], "Succeeded");
}

#[tokio::test]
async fn unknown_references_are_listed_and_the_event_still_delivered() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let reply = app
        .trigger(
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "nope", "UserID": "ghost",
                        "LineItems": [{"ID": "L1", "ProductID": "P404"}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(
        reply.body["MissingEntities"],
        json!([{"Type": "User", "ID": "ghost"}, {"Type": "Order", "ID": "nope"}, {"Type": "Product", "ID": "P404"}])
    );
    app.deliver_all_due().await;
    let body = receiver.received()[0].json();
    assert_eq!(body["Order"], Value::Null);
    assert_eq!(body["LineItems"][0]["ID"], "L1");
}

#[tokio::test]
async fn a_login_links_anonymous_and_known_identities() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let login = app
        .trigger(
            json!({"EventType": "UserLoggedIn", "ClientID": "storefront", "UserID": "buyer01",
                        "AnonymousID": "beacon-1", "User": {"ID": "buyer01", "Email": "b@example.com"}}),
        )
        .await;
    assert_eq!(login.status, StatusCode::ACCEPTED);
    assert_eq!(login.body["Deliveries"], json!([]), "no TrackingEvent for logins");

    // Later events naming either identity carry both.
    app.trigger(
        json!({"EventType": "LineItemAdded", "ClientID": "storefront", "AnonymousID": "beacon-1",
                       "OrderID": "PO1", "LineItem": {"ID": "L1"}}),
    )
    .await;
    app.trigger(
        json!({"EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "buyer01",
                       "OrderID": "PO1", "LineItem": {"ID": "L2"}}),
    )
    .await;
    app.deliver_all_due().await;
    for request in receiver.received() {
        let body = request.json();
        assert_eq!(body["UserContext"], json!({"ID": "buyer01", "AnonymousId": "beacon-1"}));
        assert_eq!(body["User"]["Email"], "b@example.com");
    }
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_repeated_trigger_id_is_idempotent() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let first = app.trigger(line_item_added("same")).await;
    let second = app.trigger(line_item_added("same")).await;
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(app.count("events").await, 1);
    assert_eq!(app.count("deliveries").await, 1);
    // The same ID from another client is another trigger.
    let other = app
        .call(
            Method::POST,
            "/v1/triggers",
            Some(Role::FullAccess),
            Some({
                let mut t = line_item_added("same");
                t["ClientID"] = json!("kiosk");
                t
            }),
        )
        .await;
    assert_ne!(other.body["ID"], first.body["ID"]);
}

/// A repeat sharing a transaction with new triggers is answered from the first acceptance;
/// the new ones are accepted, and nothing of the repeat is written again.
#[tokio::test]
async fn a_repeat_among_new_triggers_is_replayed_alone() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let first = app.trigger(line_item_added("seen")).await;
    let mut repeat = line_item_added("seen");
    repeat["Order"]["Total"] = json!(999);
    let fresh = |id: &str, order: &str| {
        json!({"ID": id, "EventType": "LineItemAdded", "ClientID": "storefront", "UserID": format!("u-{id}"),
               "OrderID": order, "LineItem": {"ID": "L1"}})
    };
    let reply = app
        .call(
            Method::POST,
            "/v1/triggers/batch",
            Some(Role::TriggerSender),
            Some(json!({"Triggers": [fresh("a", "PO-a"), repeat, fresh("b", "PO-b")]})),
        )
        .await;
    let results = reply.body["Results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["Status"] == 202), "{results:?}");
    assert_eq!(results[1]["Body"], first.body);
    assert_eq!(app.count("events").await, 3);
    assert_eq!(app.count("deliveries").await, 3);
    let total: Option<f64> = sqlx::query_scalar("SELECT (doc->>'Total')::float8 FROM orders WHERE id = 'PO1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(total, Some(30.0), "the repeat's order was not written");
}

#[tokio::test]
async fn concurrent_duplicates_create_one_event() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let replies = futures_util::future::join_all((0..8).map(|_| app.trigger(line_item_added("race")))).await;
    let first = &replies[0].body;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        assert_eq!(&reply.body, first);
    }
    assert_eq!(app.count("events").await, 1);
    assert_eq!(app.count("deliveries").await, 1);
    app.deliver_all_due().await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn bad_triggers_get_precise_4xx_and_write_nothing() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    app.create_tracking_event("te", "LineItemAdded", "hooks").await;
    let cases = [
        (
            json!({"EventType": "LineItemShipped", "ClientID": "storefront"}),
            StatusCode::BAD_REQUEST,
            "InvalidEventType",
        ),
        (
            json!({"ClientID": "storefront"}),
            StatusCode::BAD_REQUEST,
            "RequiredField",
        ),
        (
            json!({"EventType": "LineItemAdded", "ClientID": "storefront"}),
            StatusCode::BAD_REQUEST,
            "RequiredField",
        ),
        (
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "a b"}),
            StatusCode::BAD_REQUEST,
            "InvalidID",
        ),
        (
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "A", "Order": {"ID": "B"}}),
            StatusCode::BAD_REQUEST,
            "InvalidValue",
        ),
        (
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "A", "Surprise": 1}),
            StatusCode::BAD_REQUEST,
            "UnknownField",
        ),
        (
            json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": 5}),
            StatusCode::BAD_REQUEST,
            "InvalidFieldType",
        ),
        (
            json!({"EventType": "OrderSubmitted", "ClientID": "kiosk", "OrderID": "A"}),
            StatusCode::FORBIDDEN,
            "ClientNotInScope",
        ),
    ];
    for (body, status, code) in cases {
        let reply = app.trigger(body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {:?}", reply.body);
        assert_eq!(reply.error_code(), code, "{body}: {:?}", reply.body);
    }
    let url = format!("{}/v1/triggers", app.address);
    let token = app.token(Role::TriggerSender).to_owned();
    let malformed = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"EventType\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let huge = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![b' '; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let reader = app
        .call(
            Method::POST,
            "/v1/triggers",
            Some(Role::TrackingEventReader),
            Some(line_item_added("x")),
        )
        .await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
    for table in ["events", "deliveries", "orders", "line_items", "products", "users"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
}

#[tokio::test]
async fn past_the_admission_limit_triggers_get_a_fast_503_and_nothing_is_stored() {
    let mut settings = crate::helpers::fresh_settings();
    settings.server.max_concurrent_triggers = 1;
    let app = std::sync::Arc::new(TestApp::spawn_with(settings).await);
    // The one place is held by a trigger that waits for the database.
    let lock = crate::faults::TableLock::take(&app.pool, "events").await;
    let first = tokio::spawn({
        let app = app.clone();
        async move { app.trigger(line_item_added("first")).await }
    });
    lock.waiter(&app.pool).await;

    let reply = app.trigger(line_item_added("busy")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error_code(), "Overloaded");
    assert_eq!(reply.headers["retry-after"], "1");

    lock.release().await;
    assert_eq!(first.await.unwrap().status, StatusCode::ACCEPTED);
    assert_eq!(app.count("events WHERE idempotency_key = 'busy'").await, 0);
    assert_eq!(app.trigger(line_item_added("after")).await.status, StatusCode::ACCEPTED);
}
