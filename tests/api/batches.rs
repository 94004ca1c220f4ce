//! Triggers accepted together: the batch endpoint, group commit (shared transactions that keep
//! each shopper's order), the overlay of a batch's own writes, and two instances racing for one
//! idempotency key or one order.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trackway::config::Settings;
use trackway::domain::trigger::Trigger;
use trackway::domain::Role;
use trackway::ingest::Ingester;
use trackway::receiver::Receiver;

use crate::helpers::{self, TestApp};
use crate::triggers::line_item_added;

#[tokio::test]
async fn a_batch_answers_per_item() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
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
    let receiver = Receiver::start().await.expect("bind a receiver");
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
pub(crate) async fn accept_together(app: &TestApp, triggers: &[Value]) -> Vec<Value> {
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
    let receiver = Receiver::start().await.expect("bind a receiver");
    first.route("hooks", "LineItemAdded", &receiver.url, "s").await;
    // Half are about a shopper, whose lock the second instance waits for: it then finds the
    // key taken when it reads. The others are about none: both instances read before either
    // wrote, and the second finds the key taken when it writes.
    let keys: Vec<String> = (0..40).map(|n| format!("race-{n}")).collect();
    let replies = futures_util::future::join_all(keys.iter().enumerate().flat_map(|(n, key)| {
        let trigger = if n % 2 == 0 {
            let mut trigger = line_item_added(key);
            trigger["Order"]["ID"] = json!(format!("PO-{key}"));
            trigger
        } else {
            json!({"ID": key, "EventType": "ProductViewed", "ClientID": "storefront", "ProductID": "P1"})
        };
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
    assert_eq!(first.count("events").await, 40);
    assert_eq!(first.count("deliveries").await, 20, "one per LineItemAdded");
}

fn line_added(order: &str, line: &str) -> Value {
    json!({
        "EventType": "LineItemAdded", "ClientID": "storefront", "OrderID": order,
        "LineItem": {"ID": line, "ProductID": "P1", "Quantity": 1}
    })
}

/// The IDs of the line items an accepted trigger's payload shows, in order.
async fn payload_line_items(app: &TestApp, accepted: &Value) -> Vec<String> {
    let event = app
        .get(&format!("/v1/events/{}", accepted["ID"].as_str().unwrap()))
        .await;
    assert_eq!(event.status, StatusCode::OK, "{:?}", event.body);
    event.body["Payload"]["LineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|li| li["ID"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payload_never_misses_a_line_item_another_instance_accepted_before_it() {
    let settings = helpers::fresh_settings();
    let first = TestApp::spawn_with(settings.clone()).await;
    let second = TestApp::spawn_with(settings).await;

    let mut missed = Vec::new();
    for round in 0..40 {
        let order = format!("PO{round}");
        // Each trigger carries only its own line item, posted to each instance at once.
        let (a, b) = tokio::join!(
            first.trigger(line_added(&order, "A")),
            second.trigger(line_added(&order, "B")),
        );
        assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
        assert_eq!(b.status, StatusCode::ACCEPTED, "{:?}", b.body);
        let a = payload_line_items(&first, &a.body).await;
        let b = payload_line_items(&second, &b.body).await;
        // The trigger written first cannot show the other's line; the one written after it
        // must show both.
        let mut seen = [a.clone(), b.clone()];
        seen.sort_by_key(Vec::len);
        let both = (seen[0] == ["A"] || seen[0] == ["B"]) && seen[1] == ["A", "B"];
        if !both {
            missed.push(format!("{order}: A's payload {a:?}, B's {b:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "rounds where the later payload missed the other instance's line item:\n{}",
        missed.join("\n")
    );
}
