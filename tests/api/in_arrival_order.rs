//! Triggers about one shopper, or carrying one product's changing document, share a batch and
//! are applied in arrival order: each trigger's payload is what accepting the triggers one by
//! one would have given it, and the store ends the same. Checked against one-by-one acceptance
//! on a twin database, and, for a busy shopper's triggers sent all at once, by the payloads its
//! receiver gets.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use trackway::domain::Role;
use trackway::receiver::Receiver;

use crate::batches::accept_together;
use crate::helpers::TestApp;

/// The same store in both apps: order PO1 of buyer01 with line X, products P1 to P3, and
/// buyer01's two earlier visitor IDs, beacon-older then beacon-old.
async fn seed(app: &TestApp) {
    for (path, doc) in [
        ("/v1/orders/PO1", json!({"FromUserID": "buyer01", "Total": 10})),
        ("/v1/orders/PO1/lineitems/X", json!({"ProductID": "P1", "Quantity": 1})),
        ("/v1/products/P1", json!({"Name": "Tea"})),
        ("/v1/products/P2", json!({"Name": "Mug"})),
        ("/v1/products/P3", json!({"Name": "Cup"})),
        ("/v1/users/buyer01", json!({"Email": "old@example.com"})),
    ] {
        let put = app.call(Method::PUT, path, Some(Role::TriggerSender), Some(doc)).await;
        assert_eq!(put.status, StatusCode::OK, "{path}");
    }
    for beacon in ["beacon-older", "beacon-old"] {
        assert_eq!(app.trigger(login("buyer01", beacon)).await.status, StatusCode::ACCEPTED);
    }
}

fn login(user: &str, anonymous: &str) -> Value {
    json!({"EventType": "UserLoggedIn", "ClientID": "storefront", "UserID": user, "AnonymousID": anonymous})
}

/// A trigger of `event_type` at a fixed time (so that twins' payloads compare), with `fields`.
fn at_noon(event_type: &str, fields: Value) -> Value {
    let mut trigger = json!({"EventType": event_type, "ClientID": "storefront", "OccurredAt": "2026-12-03T12:00:00Z"});
    trigger
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    trigger
}

/// A flash sale's product, its inventory in `xp`.
fn flash(inventory: u32) -> Value {
    json!({"ID": "flash", "Name": "Kettle", "xp": {"Inventory": inventory}})
}

/// What the store holds, table by table, for comparing twins.
async fn store_of(pool: &PgPool) -> Vec<Value> {
    let mut tables = Vec::new();
    for query in [
        "SELECT jsonb_agg(jsonb_build_array(order_id, id, product_id, doc) ORDER BY order_id, id) FROM line_items",
        "SELECT jsonb_agg(jsonb_build_array(id, user_id, doc) ORDER BY id) FROM orders",
        "SELECT jsonb_agg(doc ORDER BY id) FROM products",
        "SELECT jsonb_agg(doc ORDER BY id) FROM users",
        "SELECT jsonb_agg(jsonb_build_array(anonymous_id, user_id) ORDER BY anonymous_id) FROM identities",
        "SELECT jsonb_agg(jsonb_build_array(user_id, anonymous_id) ORDER BY user_id, linked_at DESC) FROM identities",
    ] {
        let rows: Option<Value> = sqlx::query_scalar(query).fetch_one(pool).await.unwrap();
        tables.push(rows.unwrap_or_default());
    }
    tables
}

fn line_item_ids(payload: &Value) -> Vec<&str> {
    let items = payload["LineItems"].as_array().map(Vec::as_slice).unwrap_or_default();
    items.iter().map(|li| li["ID"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_batch_about_one_shopper_shows_each_trigger_what_one_by_one_acceptance_would() {
    let (one_by_one, together) = (TestApp::spawn().await, TestApp::spawn().await);
    seed(&one_by_one).await;
    seed(&together).await;
    let line = |id: &str, product: &str, quantity: u32| json!({"ID": id, "ProductID": product, "Quantity": quantity});
    let po1 = |event_type: &str, fields: Value| {
        let mut trigger = at_noon(event_type, fields);
        trigger["OrderID"] = json!("PO1");
        trigger
    };
    let triggers = [
        // The order's visitor as stored, before a later trigger links beacon-old to another user.
        po1("CheckoutStarted", json!({})),
        // A's product is only in the store: the trigger removing A must read it too.
        po1("LineItemAdded", json!({"LineItem": line("A", "P3", 1)})),
        po1(
            "LineItemAdded",
            json!({"LineItem": line("B", "flash", 1), "Products": [flash(5)]}),
        ),
        po1("LineItemRemoved", json!({"LineItemID": "A"})),
        po1(
            "LineItemAdded",
            json!({"LineItem": line("C", "flash", 2), "Products": [flash(4)]}),
        ),
        po1("LineItemUpdated", json!({"LineItem": line("B", "flash", 3)})),
        at_noon(
            "UserLoggedIn",
            json!({"UserID": "buyer03", "AnonymousID": "beacon-old"}),
        ),
        at_noon(
            "UserLoggedIn",
            json!({"UserID": "buyer01", "AnonymousID": "beacon-new", "User": {"ID": "buyer01", "Email": "new@example.com"}}),
        ),
        po1("OrderSubmitted", json!({})),
        at_noon(
            "ProductViewed",
            json!({"AnonymousID": "beacon-new", "ProductID": "flash"}),
        ),
        at_noon(
            "LineItemAdded",
            json!({"Order": {"ID": "PO2", "FromUserID": "buyer02"}, "LineItem": line("D", "P1", 1)}),
        ),
        at_noon("OrderSubmitted", json!({"OrderID": "PO2"})),
    ];
    let mut expected = Vec::new();
    for trigger in &triggers {
        let reply = one_by_one.trigger(trigger.clone()).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        let event = one_by_one
            .get(&format!("/v1/events/{}", reply.body["ID"].as_str().unwrap()))
            .await;
        expected.push(event.body["Payload"].clone());
    }
    let payloads = accept_together(&together, &triggers).await;

    for (n, (payload, expected)) in payloads.iter().zip(expected).enumerate() {
        // Each event has an ID of its own; all else must be the same.
        let without_id = |mut payload: Value| {
            payload["ID"].take();
            payload
        };
        let event_type = &triggers[n]["EventType"];
        assert_eq!(
            without_id(payload.clone()),
            without_id(expected),
            "trigger {n}, {event_type}"
        );
    }
    assert_eq!(store_of(&together.pool).await, store_of(&one_by_one.pool).await);

    // What one-by-one acceptance shows, spelled out.
    let lines: Vec<Vec<&str>> = payloads.iter().map(line_item_ids).collect();
    assert_eq!(
        lines[1..=4],
        [vec!["A", "X"], vec!["A", "B", "X"], vec!["B", "X"], vec!["B", "C", "X"]]
    );
    assert_eq!(
        payloads[3]["LineItem"],
        line("A", "P3", 1),
        "the line removed, as added before"
    );
    let products = |n: usize| payloads[n]["Products"].clone();
    let (tea, cup) = (json!({"ID": "P1", "Name": "Tea"}), json!({"ID": "P3", "Name": "Cup"}));
    assert_eq!(products(2), json!([tea, cup, flash(5)]));
    assert_eq!(products(3), json!([tea, cup, flash(5)]), "A's product, as stored");
    assert_eq!(products(4), json!([tea, flash(4)]));
    assert_eq!(payloads[5]["PreviousQuantity"], 1, "B as added by the batch");
    let visitor = |n: usize| payloads[n]["UserContext"].clone();
    assert_eq!(visitor(0), json!({"ID": "buyer01", "AnonymousId": "beacon-old"}));
    assert_eq!(visitor(8), json!({"ID": "buyer01", "AnonymousId": "beacon-new"}));
    assert_eq!(payloads[8]["User"]["Email"], "new@example.com");
    assert_eq!(
        visitor(9),
        json!({"ID": "buyer01", "AnonymousId": "beacon-new"}),
        "linked by the batch"
    );
    assert_eq!(visitor(11)["ID"], "buyer02", "the order's user, as the batch wrote it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_shoppers_triggers_sent_at_once_are_applied_one_after_another() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    let triggers: u32 = 40;
    // One order of one shopper, each trigger adding a line and carrying the flash sale's
    // product with one less in stock.
    let replies = futures_util::future::join_all((0..triggers).map(|n| {
        app.trigger(json!({
            "EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "busy", "AnonymousID": "busy-beacon",
            "OrderID": "BUSY", "LineItem": {"ID": format!("L{n:02}"), "ProductID": "flash"},
            "Products": [flash(1000 - n)]
        }))
    }))
    .await;
    assert!(replies.iter().all(|r| r.status == StatusCode::ACCEPTED), "{replies:?}");
    let commits: i64 = sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        commits < i64::from(triggers),
        "{triggers} triggers about one shopper took {commits} commits"
    );
    assert_eq!(app.deliver_all_due().await, triggers as usize);

    // Applied one after another: the payloads' line items form a chain, each holding exactly
    // the lines of the ones before it and its own, and the stock each shows is its own.
    let mut delivered: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    delivered.sort_by_key(|p| line_item_ids(p).len());
    let mut before: Vec<String> = Vec::new();
    for (k, payload) in delivered.iter().enumerate() {
        let lines: Vec<String> = line_item_ids(payload).into_iter().map(str::to_owned).collect();
        let own = payload["LineItem"]["ID"].as_str().unwrap().to_owned();
        let mut expected = before.clone();
        expected.push(own.clone());
        expected.sort();
        assert_eq!(lines, expected, "the {}-th trigger applied", k + 1);
        let n: u32 = own[1..].parse().unwrap();
        assert_eq!(payload["Products"], json!([flash(1000 - n)]), "{own}'s own document");
        before = lines;
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM line_items WHERE order_id = 'BUSY'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, i64::from(triggers));
}
