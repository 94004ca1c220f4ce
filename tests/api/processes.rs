//! Real `trackway serve` processes against one database: a worker killed with SIGKILL
//! mid-flight loses nothing, two instances share the queue without sending twice, and
//! `trackway demo` walks a newcomer through a running server.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Command;
use trackway::domain::Role;
use trackway::receiver::{Receiver, Reply};

use crate::helpers::TestApp;
use crate::instances::{counts, kill, serve, serve_with, wait_for_distinct};

async fn send_orders(app: &TestApp, n: usize) {
    for i in 0..n {
        let reply = app
            .trigger(json!({"ID": format!("t{i}"), "EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": format!("PO{i}")}))
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
}

/// An app routing OrderSubmitted to a receiver that holds each request for 5 s, so that a
/// process's requests are in flight when it dies.
async fn hanging_destination() -> (TestApp, Receiver) {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    receiver.always(Reply::status(200).after(Duration::from_secs(5)));
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    (app, receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_flight_loses_nothing() {
    let (app, receiver) = hanging_destination().await;
    let first = serve(&app.database_url, 2).await;
    send_orders(&app, 20).await;
    assert!(
        !receiver.wait_for(1, Duration::from_secs(10)).await.is_empty(),
        "the first process sent"
    );
    kill(first, &receiver).await;

    let _second = serve(&app.database_url, 2).await;
    let delivered = wait_for_distinct(&receiver, 20, Duration::from_secs(30)).await;
    assert_eq!(delivered.len(), 20, "every accepted trigger reached the receiver");
    app.wait_for_deliveries("status = 'Succeeded'", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_handed_straight_to_a_dying_worker_are_sent_by_another() {
    let (app, receiver) = hanging_destination().await;
    // Accepted by the process whose workers send them: each is handed over as its batch
    // commits, already leased, and never waits in the queue.
    let first = serve(&app.database_url, 2).await;
    for i in 0..10 {
        let reply = app
            .client
            .post(format!("{}/v1/triggers", first.url))
            .bearer_auth(app.token(Role::TriggerSender))
            .json(&json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": format!("PO{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(receiver.wait_for(10, Duration::from_secs(10)).await.len(), 10);
    assert_eq!(
        app.count("deliveries WHERE attempts = 1 AND lease_until IS NOT NULL")
            .await,
        10,
        "each in flight under its first lease"
    );
    kill(first, &receiver).await;

    // Their leases run out and another instance sends each again, under the same webhook-id.
    let _second = serve(&app.database_url, 2).await;
    receiver.wait_for(20, Duration::from_secs(30)).await;
    let sent = counts(&receiver);
    assert_eq!(sent.len(), 10);
    assert!(
        sent.values().all(|n| *n == 2),
        "each sent once by each process: {sent:?}"
    );
    app.wait_for_deliveries("status = 'Succeeded' AND attempts = 2", 10)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_queue_without_sending_twice() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let _a = serve(&app.database_url, 60).await;
    let _b = serve(&app.database_url, 60).await;
    send_orders(&app, 100).await;
    let delivered = wait_for_distinct(&receiver, 100, Duration::from_secs(30)).await;
    assert_eq!(delivered.len(), 100);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let twice: Vec<_> = counts(&receiver).into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
}

#[tokio::test]
async fn the_demo_walks_through_a_running_server() {
    let app = TestApp::spawn().await;
    let server = serve(&app.database_url, 30).await;
    let output = Command::new(env!("CARGO_BIN_EXE_trackway"))
        .args(["demo", "--url", &server.url])
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("deliveries arrived signed and verified"), "{stdout}");
    // The demo stops at the fourth receipt; its outcome is recorded just after.
    app.wait_for_deliveries("status = 'Succeeded'", 4).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_cut_off_by_shutdown_is_recorded_as_interrupted_and_due_again() {
    let (app, receiver) = hanging_destination().await;
    let process = serve_with(
        &app.database_url,
        60,
        &[("TRACKWAY__SERVER__SHUTDOWN_TIMEOUT_SECONDS", "1")],
    )
    .await;
    send_orders(&app, 1).await;
    assert_eq!(receiver.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    process.stop().await;

    assert_eq!(
        app.count("deliveries WHERE status = 'Pending' AND attempts = 1 AND lease_until IS NULL")
            .await,
        1,
        "released, not left leased for its whole lease"
    );
    assert_eq!(app.count("delivery_attempts").await, 1, "the attempt is recorded");
    assert_eq!(
        app.count("delivery_attempts WHERE error_kind = 'Interrupted' AND n = 1")
            .await,
        1
    );
    // Due at once (by the process's clock, a little ahead of this test's manual one): the
    // next pass sends it again.
    receiver.always(Reply::status(200));
    app.advance(Duration::from_secs(60));
    assert_eq!(app.deliver_all_due().await, 1);
    app.wait_for_deliveries("status = 'Succeeded' AND attempts = 2", 1)
        .await;
}

#[tokio::test]
async fn refused_requests_are_in_the_request_log_too() {
    let app = TestApp::spawn().await;
    let process = serve_with(
        &app.database_url,
        60,
        &[("RUST_LOG", "info"), ("TRACKWAY__LOG__FORMAT", "json")],
    )
    .await;
    let unauthenticated = app
        .client
        .get(format!("{}/v1/events", process.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let log = process.stop().await;
    let line = log
        .lines()
        .find(|line| line.contains("request") && line.contains("/v1/events"))
        .unwrap_or_else(|| panic!("no request line for /v1/events in:\n{log}"));
    assert!(line.contains(r#""status":401"#), "{line}");
}

#[tokio::test]
async fn personal_data_in_a_trigger_never_reaches_the_log() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let process = serve_with(
        &app.database_url,
        60,
        &[("RUST_LOG", "debug"), ("TRACKWAY__LOG__FORMAT", "json")],
    )
    .await;
    let (ip, agent) = ("198.51.100.23", "PersonalAgent/7.7");
    let post = |body: String| {
        app.client
            .post(format!("{}/v1/triggers", process.url))
            .bearer_auth(app.token(Role::FullAccess))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let trigger = |page_url: &str| {
        json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1",
               "Context": {"Ip": ip, "UserAgent": agent, "Page": {"Url": page_url}}})
        .to_string()
    };
    assert_eq!(
        post(trigger("https://shop.example.com/cart")).await.unwrap().status(),
        202
    );
    assert_eq!(post(trigger("not a url")).await.unwrap().status(), 400);
    let malformed = format!(r#"{{"EventType": "OrderSubmitted", "Context": {{"Ip": "{ip}", "UserAgent": 7}}}}"#);
    assert_eq!(post(malformed).await.unwrap().status(), 400);
    receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        receiver.received()[0].json()["Context"]["Ip"],
        ip,
        "destinations get it"
    );
    let log = process.stop().await;
    let requests = log.lines().filter(|l| l.contains(r#""path":"/v1/triggers""#)).count();
    assert_eq!(requests, 3, "each request was logged:\n{log}");
    for personal in [ip, agent] {
        assert!(!log.contains(personal), "{personal} is in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_together_keep_a_target_within_its_rate_limit() {
    const RATE: usize = 20;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("limited", "OrderSubmitted", &receiver.url, "s").await;
    let limited = app
        .patch(
            "/v1/integrations/deliveryconfig/limited",
            json!({"DeliveryPolicy": {"RateLimitPerSecond": RATE}}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::OK, "{:?}", limited.body);
    send_orders(&app, 400).await;
    // The default poll interval: a limited target's tokens are spent as they refill anyway.
    let poll = [("TRACKWAY__DELIVERY__POLL_INTERVAL_MS", "1000")];
    let _a = serve_with(&app.database_url, 60, &poll).await;
    let _b = serve_with(&app.database_url, 60, &poll).await;
    let delivered = wait_for_distinct(&receiver, 400, Duration::from_secs(60)).await;
    assert_eq!(delivered.len(), 400, "all arrive");
    let mut arrivals: Vec<_> = receiver.received().iter().map(|r| r.at).collect();
    arrivals.sort();
    // Claims send at most 1.5 times the rate in any second (a half-second bucket spent at once,
    // then a second's refill); arrivals may bunch a little more than sends, so the bound checked
    // is the rate plus one second's worth.
    let busiest = (0..arrivals.len())
        .map(|i| {
            let end = arrivals[i] + Duration::from_secs(1);
            arrivals[i..].iter().take_while(|&&at| at < end).count()
        })
        .max()
        .unwrap();
    assert!(busiest <= 2 * RATE, "{busiest} arrivals within one second");
    let took = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        took >= Duration::from_secs(18) && took <= Duration::from_secs(23),
        "400 at 20/s took {took:?}"
    );
}
