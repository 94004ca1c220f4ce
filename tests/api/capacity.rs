//! A target's capacity with the delivery workers running: a slow destination holds only its
//! own places, a target never exceeds its MaxInFlight, and a circuit breaker holds back a
//! destination found down until a probe finds it up (or disables it after the whole schedule).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use trackway::receiver::{Receiver, Reply};

use crate::delivery::{assert_http_disabled_for, order_submitted, send_one};
use crate::helpers::{fresh_settings, TestApp};

/// An app with its delivery workers running, routing OrderSubmitted to a destination that
/// answers after `delay` (DeliveryConfig `slow`) and to one that answers at once (`healthy`).
async fn slow_and_healthy(delay: Duration) -> (TestApp, Receiver, Receiver) {
    let mut settings = fresh_settings();
    settings.delivery.workers_enabled = true;
    let app = TestApp::spawn_with(settings).await;
    let healthy = Receiver::start().await.expect("bind a receiver");
    let slow = Receiver::start().await.expect("bind a receiver");
    slow.always(Reply::status(200).after(delay));
    app.route("slow", "OrderSubmitted", &slow.url, "s").await;
    app.route("healthy", "OrderSubmitted", &healthy.url, "s").await;
    (app, slow, healthy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_destination_does_not_hold_up_a_healthy_one() {
    let (app, slow, healthy) = slow_and_healthy(Duration::from_secs(5)).await;
    // One at a time: each new trigger finds every earlier slow request still in flight.
    for n in 1..=6 {
        app.trigger(order_submitted()).await;
        assert_eq!(healthy.wait_for(n, Duration::from_secs(30)).await.len(), n);
    }
    // Every healthy delivery arrived while the slow destination still sat on its requests.
    assert!(!slow.received().is_empty(), "the slow destination was tried");
    let slow_done = app.get("/v1/deliveries?DeliveryConfigID=slow&Status=Succeeded").await;
    assert_eq!(slow_done.body["Meta"]["TotalCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_holds_at_most_its_max_in_flight_and_its_backlog_drains() {
    let (app, slow, healthy) = slow_and_healthy(Duration::from_secs(3)).await;
    let capped = app
        .patch(
            "/v1/integrations/deliveryconfig/slow",
            json!({"DeliveryPolicy": {"MaxInFlight": 2}}),
        )
        .await;
    assert_eq!(capped.status, StatusCode::OK, "{:?}", capped.body);
    for _ in 0..5 {
        assert_eq!(app.trigger(order_submitted()).await.status, StatusCode::ACCEPTED);
    }
    assert_eq!(healthy.wait_for(5, Duration::from_secs(30)).await.len(), 5);
    // No slow request has been answered yet: what it received is what it holds at once.
    assert_eq!(slow.received().len(), 2, "the slow target holds only its MaxInFlight");
    // Each answer frees a slot for the next of its queue.
    assert_eq!(slow.wait_for(5, Duration::from_secs(30)).await.len(), 5);
}

/// The ID of the delivery to DeliveryConfig `config` in a trigger's 202 body.
fn delivery_to(accepted: &Value, config: &str) -> String {
    let deliveries = accepted["Deliveries"].as_array().expect("deliveries");
    let delivery = deliveries
        .iter()
        .find(|d| d["DeliveryConfigID"] == config)
        .expect(config);
    delivery["ID"].as_str().unwrap().to_owned()
}

/// An app with its delivery workers running and a circuit breaker that opens after `failures`
/// in a row for `open_seconds`, routing OrderSubmitted to a destination answering 503
/// (DeliveryConfig `down`).
async fn destination_down(failures: u32, open_seconds: u64) -> (TestApp, Receiver) {
    let mut settings = fresh_settings();
    settings.delivery.workers_enabled = true;
    settings.delivery.breaker_failures = failures;
    settings.delivery.breaker_open_seconds = open_seconds;
    let app = TestApp::spawn_with(settings).await;
    let down = Receiver::start().await.expect("bind a receiver");
    down.always(Reply::status(503));
    app.route("down", "OrderSubmitted", &down.url, "s").await;
    (app, down)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_found_down_is_held_back_until_a_probe_finds_it_up() {
    let (app, down) = destination_down(3, 3).await;
    let healthy = Receiver::start().await.expect("bind a receiver");
    app.route("healthy", "OrderSubmitted", &healthy.url, "s").await;

    for _ in 0..3 {
        assert_eq!(app.trigger(order_submitted()).await.status, StatusCode::ACCEPTED);
    }
    assert_eq!(down.wait_for(3, Duration::from_secs(10)).await.len(), 3);
    // Their retries are not due on the test's clock, which stands still.
    app.wait_for_deliveries(
        "delivery_config_id = 'down' AND attempts = 1 AND lease_until IS NULL",
        3,
    )
    .await;

    // Three failures in a row: the breaker is open, and new deliveries to it wait in the queue
    // with no attempt spent, while the healthy destination gets each at once.
    let mut held = Vec::new();
    for _ in 0..2 {
        let accepted = app.trigger(order_submitted()).await;
        assert_eq!(accepted.status, StatusCode::ACCEPTED);
        let queued = app.delivery(&delivery_to(&accepted.body, "down")).await;
        assert_eq!(queued["Status"], "Pending");
        assert_eq!(queued["AttemptCount"], 0, "not handed over: {queued}");
        assert_eq!(queued["LeaseUntil"], Value::Null);
        held.push(queued["ID"].as_str().unwrap().to_owned());
    }
    assert_eq!(healthy.wait_for(5, Duration::from_secs(10)).await.len(), 5);
    assert_eq!(
        down.received().len(),
        3,
        "nothing more was sent to the destination that is down"
    );

    // Once it is up, the probe after the open time finds it so, and the queue drains.
    down.always(Reply::status(200));
    assert_eq!(down.wait_for(5, Duration::from_secs(30)).await.len(), 5);
    for id in held {
        app.wait_for_deliveries(&format!("id = '{id}' AND status = 'Succeeded' AND attempts = 1"), 1)
            .await;
    }
    assert_eq!(healthy.received().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_down_for_longer_than_its_schedule_is_disabled_by_a_failed_probe() {
    let (app, down) = destination_down(2, 1).await;
    let policy = app
        .patch(
            "/v1/integrations/deliveryconfig/down",
            json!({"DeliveryPolicy": {"RetrySchedule": [1]}}),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{:?}", policy.body);

    for _ in 0..2 {
        send_one(&app).await;
    }
    app.wait_for_deliveries("attempts = 1 AND lease_until IS NULL", 2).await;
    // The breaker is open; this one waits for the probe, a second later. By then the
    // destination has been down for as long as the whole schedule (1 s).
    let held = send_one(&app).await;
    app.wait_for_deliveries(&format!("id = '{held}' AND status = 'Failed'"), 1)
        .await;
    let delivery = app.delivery(&held).await;
    assert_eq!(delivery["AttemptCount"], 1, "{delivery}");
    assert!(delivery["LastError"]
        .as_str()
        .unwrap()
        .contains("longer than its whole RetrySchedule"));
    assert_http_disabled_for(&app, "down", "down for").await;
    assert_eq!(down.received().len(), 3, "two failures and the probe");
}
