//! `DeliveryPolicy.Ordered`: to such a target, each shopper's deliveries go one at a time, in
//! the order their triggers were accepted. A failing delivery holds its shopper's later ones
//! until it succeeds or ends as a dead letter; other shoppers, and other targets, go on. Held
//! across instances and across a worker killed mid-flight.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use trackway::domain::Role;
use trackway::receiver::{Receiver, Reply};

use crate::helpers::TestApp;
use crate::instances::{kill, serve, wait_for_distinct};

/// An OrderSubmitted about `user`.
fn order_of(user: &str, order: &str) -> Value {
    json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "UserID": user, "OrderID": order})
}

/// Makes DeliveryConfig `id` ordered, with the given retry schedule.
async fn order_deliveries(app: &TestApp, id: &str, retry_schedule: &[u32]) {
    let reply = app
        .patch(
            &format!("/v1/integrations/deliveryconfig/{id}"),
            json!({"DeliveryPolicy": {"Ordered": true, "RetrySchedule": retry_schedule}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

/// The events a receiver got, by the names given to their IDs, in arrival order.
fn arrivals(receiver: &Receiver, names: &HashMap<String, String>) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| names[r.json()["ID"].as_str().unwrap()].clone())
        .collect()
}

#[tokio::test]
async fn a_failing_delivery_holds_back_its_shoppers_later_ones_until_it_ends_and_no_one_elses() {
    let app = TestApp::spawn().await;
    let ordered = Receiver::start().await.expect("bind a receiver");
    let free = Receiver::start().await.expect("bind a receiver");
    app.route("crm", "OrderSubmitted", &ordered.url, "s").await;
    app.route("warehouse", "OrderSubmitted", &free.url, "s").await;
    order_deliveries(&app, "crm", &[5]).await;
    // Ann's first order fails.
    ordered.script([Reply::status(500)]);
    let mut names = HashMap::new();
    let mut crm_deliveries = HashMap::new();
    let mut send = async |name: &str, user: &str| {
        let reply = app.trigger(order_of(user, name)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        names.insert(reply.body["ID"].as_str().unwrap().to_owned(), name.to_owned());
        let deliveries = reply.body["Deliveries"].as_array().unwrap();
        let crm = deliveries.iter().find(|d| d["DeliveryConfigID"] == "crm").unwrap();
        crm_deliveries.insert(name.to_owned(), crm["ID"].as_str().unwrap().to_owned());
    };
    send("ann-1", "ann").await;
    app.deliver_all_due().await;
    for (name, user) in [
        ("bob-1", "bob"),
        ("ann-2", "ann"),
        ("bob-2", "bob"),
        ("ann-3", "ann"),
        ("bob-3", "bob"),
    ] {
        send(name, user).await;
    }
    app.deliver_all_due().await;

    assert_eq!(arrivals(&ordered, &names), ["ann-1", "bob-1", "bob-2", "bob-3"]);
    assert_eq!(free.received().len(), 6, "an unordered target is not held back");
    for held in ["ann-2", "ann-3"] {
        let delivery = app.delivery(&crm_deliveries[held]).await;
        assert_eq!(delivery["Status"], "Pending", "{held}");
        assert_eq!(
            delivery["Attempts"],
            json!([]),
            "{held} waits without spending attempts"
        );
    }

    // Its one retry (5 s ± 20 % later) fails too: a dead letter, and Ann's later orders go,
    // one after another.
    ordered.script([Reply::status(500)]);
    app.advance(Duration::from_secs(6));
    app.deliver_all_due().await;
    assert_eq!(
        arrivals(&ordered, &names),
        ["ann-1", "bob-1", "bob-2", "bob-3", "ann-1", "ann-2", "ann-3"]
    );
    assert_eq!(app.delivery(&crm_deliveries["ann-1"]).await["Status"], "Failed");
    assert_eq!(app.delivery(&crm_deliveries["ann-3"]).await["Status"], "Succeeded");
}

#[tokio::test]
async fn a_shopper_is_named_by_user_else_anonymous_id_else_order_and_turning_order_off_lets_all_go() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("crm", "OrderSubmitted", &receiver.url, "s").await;
    order_deliveries(&app, "crm", &[5]).await;
    // Every shopper's first delivery fails: only the first of each is sent.
    receiver.always(Reply::status(500));
    let mut names = HashMap::new();
    let triggers = [
        (
            "user",
            json!({"UserID": "ann", "AnonymousID": "beacon-1", "OrderID": "PO1"}),
        ),
        ("anonymous", json!({"AnonymousID": "beacon-2", "OrderID": "PO2"})),
        ("order", json!({"OrderID": "PO3"})),
        // The same shoppers again: each waits for the first, failed, of its shopper.
        ("user again", json!({"Order": {"ID": "PO9", "FromUserID": "ann"}})),
        ("anonymous again", json!({"AnonymousID": "beacon-2", "OrderID": "PO8"})),
        ("order again", json!({"OrderID": "PO3"})),
        // Not the same shoppers: a user is named before an anonymous ID or an order.
        (
            "other user",
            json!({"UserID": "bob", "AnonymousID": "beacon-1", "OrderID": "PO1"}),
        ),
    ];
    for (name, mut trigger) in triggers {
        trigger["EventType"] = json!("OrderSubmitted");
        trigger["ClientID"] = json!("storefront");
        let reply = app.trigger(trigger).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{name}: {:?}", reply.body);
        names.insert(reply.body["ID"].as_str().unwrap().to_owned(), name.to_owned());
    }
    app.deliver_all_due().await;
    let mut sent = arrivals(&receiver, &names);
    sent.sort();
    assert_eq!(sent, ["anonymous", "order", "other user", "user"]);

    // Turned off, the policy holds nothing back: the waiting deliveries go (the failed ones
    // wait for their retry).
    let reply = app
        .patch(
            "/v1/integrations/deliveryconfig/crm",
            json!({"DeliveryPolicy": {"Ordered": false}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    receiver.always(Reply::status(200));
    app.deliver_all_due().await;
    let mut sent = arrivals(&receiver, &names).split_off(4);
    sent.sort();
    assert_eq!(sent, ["anonymous again", "order again", "user again"]);
}

/// Checks that, in arrival order, each shopper's events (`events`: event ID → (shopper, place))
/// never go back: a later one never arrives before an earlier one has, nor between two
/// attempts of it. Returns the last event of each shopper that arrived.
fn assert_in_order(receiver: &Receiver, events: &HashMap<String, (usize, usize)>) -> HashMap<usize, usize> {
    let mut last: HashMap<usize, usize> = HashMap::new();
    for request in receiver.received() {
        let (shopper, k) = events[request.json()["ID"].as_str().unwrap()];
        let previous = last.insert(shopper, k);
        assert!(
            previous.map_or(k == 0, |p| p == k || p + 1 == k),
            "shopper {shopper}: event {k} arrived after event {previous:?}"
        );
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_shoppers_events_in_order_through_failures_and_a_crash() {
    const SHOPPERS: usize = 20;
    const EVENTS: usize = 25;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    // Every seventh request fails (retries included); answers take 10 ms, so that requests are
    // in flight when an instance is killed.
    let reply = |n: usize| Reply::status(if n.is_multiple_of(7) { 500 } else { 200 }).after(Duration::from_millis(10));
    receiver.script((1..=2 * SHOPPERS * EVENTS).map(reply));
    app.route("crm", "OrderSubmitted", &receiver.url, "s").await;
    order_deliveries(&app, "crm", &[1; 10]).await;
    let instances = [serve(&app.database_url, 3).await, serve(&app.database_url, 3).await];
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();

    // Shoppers at once, each one's orders one after another, alternately to each instance.
    let token = app.token(Role::TriggerSender).to_owned();
    let senders = (0..SHOPPERS).map(|s| {
        let (urls, token, client) = (urls.clone(), token.clone(), reqwest::Client::new());
        tokio::spawn(async move {
            let mut accepted = Vec::new();
            for k in 0..EVENTS {
                let reply = client
                    .post(format!("{}/v1/triggers", urls[k % 2]))
                    .bearer_auth(&token)
                    .json(&order_of(&format!("shopper-{s}"), &format!("PO-{s}-{k}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), StatusCode::ACCEPTED);
                let body: Value = reply.json().await.unwrap();
                accepted.push((body["ID"].as_str().unwrap().to_owned(), (s, k)));
            }
            accepted
        })
    });
    let mut events = HashMap::new();
    for sender in senders.collect::<Vec<_>>() {
        events.extend(sender.await.unwrap());
    }

    let [first, second] = instances;
    let before_crash = receiver.count();
    assert_in_order(&receiver, &events);
    assert!(
        before_crash < SHOPPERS * EVENTS,
        "the crash comes mid-way ({before_crash} arrived)"
    );
    kill(first, &receiver).await;
    let delivered = wait_for_distinct(&receiver, SHOPPERS * EVENTS, Duration::from_secs(60)).await;
    assert_eq!(delivered.len(), SHOPPERS * EVENTS, "all arrive");
    let last = assert_in_order(&receiver, &events);
    assert!(last.values().all(|&k| k == EVENTS - 1));
    drop(second);
}
