//! Ingestion: triggers, hydration, identity stitching, idempotency, the entity store.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trackway::config::Settings;
use trackway::domain::trigger::Trigger;
use trackway::domain::Role;
use trackway::ingest::Ingester;

use crate::helpers::{self, TestApp};
use crate::receiver::Receiver;

fn line_item_added(id: &str) -> Value {
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
    let receiver = Receiver::start().await;
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
    let timestamp: i64 = request.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(trackway::domain::signing::verify_standard_webhooks(
        "s3cret",
        &delivery_id,
        timestamp,
        &request.body,
        request.header("webhook-signature").unwrap()
    ));
    assert!(trackway::domain::signing::verify_ordercloud_hash(
        "s3cret",
        &request.body,
        request.header("x-oc-hash").unwrap()
    ));

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
    let receiver = Receiver::start().await;
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
    let receiver = Receiver::start().await;
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
    let receiver = Receiver::start().await;
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
    let receiver = Receiver::start().await;
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
    let receiver = Receiver::start().await;
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
    let receiver = Receiver::start().await;
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
async fn a_batch_answers_per_item() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let (reply, statuses) = app
        .trigger_batch(vec![
            line_item_added("b1"),
            json!({"EventType": "Nope", "ClientID": "storefront"}),
            line_item_added("b3"),
            json!({"EventType": "OrderSubmitted", "ClientID": "kiosk", "OrderID": "X"}),
            json!("not an object"),
        ])
        .await;
    assert_eq!(statuses, [202, 400, 202, 403, 400]);
    assert_eq!(
        reply.body["Results"][1]["Errors"]["Errors"][0]["ErrorCode"],
        "InvalidEventType"
    );
    assert_eq!(app.count("events").await, 2);
    assert_eq!(app.deliver_all_due().await, 2);

    let too_many = json!({"Triggers": vec![line_item_added("x"); 501]});
    let reply = app
        .call(
            Method::POST,
            "/v1/triggers/batch",
            Some(Role::FullAccess),
            Some(too_many),
        )
        .await;
    assert!(reply.status == StatusCode::BAD_REQUEST || reply.status == StatusCode::PAYLOAD_TOO_LARGE);
}

/// Triggers arriving together share transactions (group commit), yet each is accepted as if
/// alone: triggers about the same order are applied one after another, in arrival order.
#[tokio::test]
async fn triggers_sent_together_share_commits_and_keep_their_order() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let mut triggers = Vec::new();
    for n in 1..=30 {
        triggers.push(json!({
            "EventType": "LineItemAdded", "ClientID": "storefront", "UserID": format!("buyer{n}"),
            "Order": {"ID": format!("own-{n}"), "FromUserID": format!("buyer{n}")},
            "LineItem": {"ID": "L1", "ProductID": "P1"}, "Products": [{"ID": "P1", "Name": "Mug"}]
        }));
        if n % 6 == 0 {
            // Five line items added to one shared order, interleaved with the others.
            triggers.push(json!({
                "EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "sharer",
                "OrderID": "shared", "LineItem": {"ID": format!("S{}", n / 6), "ProductID": "P1"}
            }));
        }
    }
    let reply = app
        .call(
            Method::POST,
            "/v1/triggers/batch",
            Some(Role::TriggerSender),
            Some(json!({"Triggers": &triggers})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let results = reply.body["Results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["Status"] == 202), "{results:?}");

    let (events, commits): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 35);
    assert!(commits <= 20, "35 triggers sent together took {commits} transactions");

    // The k-th trigger on the shared order sees exactly the k line items added so far.
    let shared: Vec<&Value> = triggers
        .iter()
        .zip(results)
        .filter(|(t, _)| t["OrderID"] == "shared")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(shared.len(), 5);
    for (k, result) in shared.iter().enumerate() {
        let event = app
            .get(&format!("/v1/events/{}", result["Body"]["ID"].as_str().unwrap()))
            .await;
        let items: Vec<&str> = event.body["Payload"]["LineItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|li| li["ID"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (1..=k + 1).map(|i| format!("S{i}")).collect();
        assert_eq!(items, expected, "trigger {} on the shared order", k + 1);
    }
    assert_eq!(app.deliver_all_due().await, 35);
}

/// Accepts `triggers` as one batch, through an ingester of its own: handed over at once on the
/// test's single thread, they are all waiting when its writer first looks. Returns each one's
/// event payload.
async fn accept_together(app: &TestApp, triggers: &[Value]) -> Vec<Value> {
    let settings = Settings::defaults().unwrap();
    let ingester = Ingester::start(app.pool.clone(), app.clock.clone(), &settings.ingest, None);
    let parsed = triggers
        .iter()
        .map(|t| Trigger::parse(&serde_json::from_value(t.clone()).unwrap()).unwrap());
    let accepted = futures_util::future::join_all(parsed.map(|t| ingester.accept(t))).await;
    let ids: Vec<String> = accepted
        .into_iter()
        .map(|a| a.unwrap().body["ID"].as_str().unwrap().to_owned())
        .collect();
    let commits: i64 = sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM events WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(commits, 1, "accepted together");
    let mut payloads = Vec::new();
    for id in &ids {
        payloads.push(app.get(&format!("/v1/events/{id}")).await.body["Payload"].clone());
    }
    payloads
}

#[tokio::test]
async fn triggers_accepted_together_see_each_others_writes() {
    let app = TestApp::spawn().await;
    let login = |user: &str, anonymous: &str| json!({"EventType": "UserLoggedIn", "ClientID": "storefront", "UserID": user, "AnonymousID": anonymous});
    for trigger in [login("buyer01", "beacon-older"), login("buyer01", "beacon-old")] {
        assert_eq!(app.trigger(trigger).await.status, StatusCode::ACCEPTED);
    }
    for (path, doc) in [
        ("/v1/orders/PO1", json!({"FromUserID": "buyer01"})),
        ("/v1/orders/PO1/lineitems/L1", json!({"ProductID": "P9"})),
        ("/v1/orders/PO1/lineitems/L3", json!({"ProductID": "P2"})),
        ("/v1/products/P2", json!({"Name": "Mug"})),
        ("/v1/orders/PO2", json!({"FromUserID": "buyer03"})),
        ("/v1/orders/PO2/lineitems/X1", json!({"ProductID": "P2", "Quantity": 4})),
        ("/v1/orders/PO3", json!({"FromUserID": "buyer04", "Total": 1})),
        ("/v1/orders/PO3/lineitems/Y1", json!({"ProductID": "P2"})),
    ] {
        let put = app.call(Method::PUT, path, Some(Role::TriggerSender), Some(doc)).await;
        assert_eq!(put.status, StatusCode::OK, "{path}");
    }
    let submitted = json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"});

    // Another visitor's login takes beacon-old from buyer01: the order's event, knowing buyer01
    // only from the stored order, falls back to the visitor linked before.
    let payloads = accept_together(&app, &[login("buyer02", "beacon-old"), submitted]).await;
    assert_eq!(
        payloads[1]["UserContext"],
        json!({"ID": "buyer01", "AnonymousId": "beacon-older"})
    );

    // A login with the user's new document, a product sent with another shopper's view, a line
    // item added and one removed: each trigger sees the others' writes and its own.
    let mut new_login = login("buyer01", "beacon-new");
    new_login["User"] = json!({"ID": "buyer01", "Email": "new@example.com"});
    let triggers = [
        new_login,
        json!({"EventType": "ProductViewed", "ClientID": "storefront", "UserID": "viewer",
               "Products": [{"ID": "P9", "Name": "Nine"}]}),
        json!({"EventType": "LineItemAdded", "ClientID": "storefront", "OrderID": "PO1",
               "LineItem": {"ID": "L2", "ProductID": "P2"}}),
        json!({"EventType": "LineItemRemoved", "ClientID": "storefront", "OrderID": "PO2", "LineItemID": "X1"}),
        json!({"EventType": "LineItemUpdated", "ClientID": "storefront", "UserID": "buyer04",
               "Order": {"ID": "PO3", "FromUserID": "buyer04", "Total": 2}, "LineItem": {"ID": "Y1", "ProductID": "P9"}}),
    ];
    let payloads = accept_together(&app, &triggers).await;
    let added = &payloads[2];
    assert_eq!(
        added["UserContext"],
        json!({"ID": "buyer01", "AnonymousId": "beacon-new"})
    );
    assert_eq!(added["User"], json!({"ID": "buyer01", "Email": "new@example.com"}));
    assert_eq!(added["LineItem"], json!({"ID": "L2", "ProductID": "P2"}));
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| e["ID"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&added["LineItems"]), ["L1", "L2", "L3"]);
    assert_eq!(
        added["Products"],
        json!([{"ID": "P2", "Name": "Mug"}, {"ID": "P9", "Name": "Nine"}])
    );
    let removed = &payloads[3];
    assert_eq!(
        removed["LineItem"],
        json!({"ID": "X1", "ProductID": "P2", "Quantity": 4})
    );
    assert_eq!(removed["LineItems"], json!([]));
    assert_eq!(removed["UserContext"]["ID"], "buyer03");
    assert_eq!(removed["Products"], json!([{"ID": "P2", "Name": "Mug"}]));
    let updated = &payloads[4];
    assert_eq!(updated["Order"]["Total"], 2, "the order as the trigger carried it");
    assert_eq!(updated["LineItems"], json!([{"ID": "Y1", "ProductID": "P9"}]));
    assert_eq!(
        updated["Products"],
        json!([{"ID": "P9", "Name": "Nine"}]),
        "the product the line item no longer names is left out"
    );
}

#[tokio::test]
async fn two_instances_racing_for_one_key_create_one_event() {
    let settings = helpers::fresh_settings();
    let first = TestApp::spawn_with(settings.clone()).await;
    let second = TestApp::spawn_with(settings).await;
    let receiver = Receiver::start().await;
    first.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let keys: Vec<String> = (0..20).map(|n| format!("race-{n}")).collect();
    let replies = futures_util::future::join_all(keys.iter().flat_map(|key| {
        let mut trigger = line_item_added(key);
        trigger["Order"]["ID"] = json!(format!("PO-{key}"));
        [first.trigger(trigger.clone()), second.trigger(trigger)]
    }))
    .await;
    for pair in replies.chunks(2) {
        assert_eq!(pair[0].status, StatusCode::ACCEPTED, "{:?}", pair[0].body);
        assert_eq!(pair[1].status, StatusCode::ACCEPTED, "{:?}", pair[1].body);
        assert_eq!(pair[0].body, pair[1].body, "both answered with the one acceptance");
        let replayed: Vec<&str> = pair
            .iter()
            .map(|r| r.headers["idempotent-replayed"].to_str().unwrap())
            .collect();
        assert!(
            replayed == ["true", "false"] || replayed == ["false", "true"],
            "one accepted, one replayed: {replayed:?}"
        );
    }
    assert_eq!(first.count("events").await, 20);
    assert_eq!(first.count("deliveries").await, 20);
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

#[tokio::test]
async fn events_and_deliveries_are_listed_with_filters() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
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
