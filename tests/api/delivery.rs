//! The delivery engine through HTTP: retries on a driven clock, permanent failures, dead
//! letters with ErrorConfig notices, recovery, manual retry and the outbound guard.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trackway::domain::Role;
use trackway::receiver::{Receiver, Reply};
use trackway::storage::deliveries;

use crate::helpers::{fresh_settings, TestApp};

pub fn order_submitted() -> Value {
    json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"})
}

/// Asserts that DeliveryConfig `id` shows its Http target disabled, for a reason mentioning
/// `reason`.
pub async fn assert_http_disabled_for(app: &TestApp, id: &str, reason: &str) {
    let config = app.get(&format!("/v1/integrations/deliveryconfig/{id}")).await.body;
    assert!(
        config["DisabledTargets"]["Http"]["Reason"]
            .as_str()
            .unwrap()
            .contains(reason),
        "{config}"
    );
}

pub async fn send_one(app: &TestApp) -> String {
    let reply = app.trigger(order_submitted()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    reply.body["Deliveries"][0]["ID"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_500_is_retried_on_schedule_with_a_stable_webhook_id() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    receiver.script([Reply::status(500)]);
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let id = send_one(&app).await;

    assert_eq!(app.deliver_all_due().await, 1);
    let delivery = app.delivery(&id).await;
    assert_eq!(delivery["Status"], "Pending");
    assert_eq!(delivery["LastStatusCode"], 500);
    assert_eq!(delivery["Attempts"][0]["ErrorKind"], "Status");

    // The next attempt is 5 s ± 20 % away: nothing at 3 s, the retry by 7 s.
    app.advance(Duration::from_secs(3));
    assert_eq!(app.deliver_all_due().await, 0);
    app.advance(Duration::from_secs(4));
    assert_eq!(app.deliver_all_due().await, 1);
    let delivery = app.delivery(&id).await;
    assert_eq!(delivery["Status"], "Succeeded");
    assert_eq!(delivery["AttemptCount"], 2);
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].header("webhook-id"), received[1].header("webhook-id"));
    assert_eq!(received[0].body, received[1].body);
}

#[tokio::test]
async fn a_spent_schedule_is_a_dead_letter_announced_to_the_error_config() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    let errors = Receiver::start().await.expect("bind a receiver");
    receiver.always(Reply::status(503));
    app.post(
        "/v1/integrations/deliveryconfig",
        json!({"ID": "hooks", "Name": "h", "DeliveryTargets": {"Http": {"Endpoint": receiver.url}},
               "DeliveryPolicy": {"RetrySchedule": [10]}}),
    )
    .await;
    app.create_tracking_event("te", "OrderSubmitted", "hooks").await;
    app.route("alerts", "UserLoggedIn", &errors.url, "alert-secret").await;
    app.put("/v1/integrations/ErrorConfig", json!({"DeliveryConfigID": "alerts"}))
        .await;
    let id = send_one(&app).await;

    app.deliver_all_due().await;
    app.advance(Duration::from_secs(15));
    app.deliver_all_due().await;
    let delivery = app.delivery(&id).await;
    assert_eq!(delivery["Status"], "Failed");
    assert_eq!(delivery["AttemptCount"], 2);
    assert!(
        delivery["LastError"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts"),
        "{delivery}"
    );

    // The notice went out in the same pass's wake.
    app.deliver_all_due().await;
    let notices = errors.received();
    assert_eq!(notices.len(), 1);
    let notice = notices[0].json();
    assert_eq!(notice["EventType"], "DeliveryFailed");
    assert_eq!(
        notices[0].header("sitecore-event-type"),
        Some("trackway.messages.deliveries.failed")
    );
    assert_eq!(notice["Delivery"]["ID"], id);
    assert_eq!(notice["Delivery"]["DeliveryConfigID"], "hooks");
    assert!(notices[0].header("webhook-signature").is_some());
    assert_eq!(receiver.received().len(), 2, "no third attempt");
}

#[tokio::test]
async fn gone_disables_the_target_until_recovered() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    receiver.script([Reply::status(410)]);
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let first = send_one(&app).await;
    app.deliver_all_due().await;
    assert_eq!(app.delivery(&first).await["Status"], "Failed");
    assert_http_disabled_for(&app, "hooks", "410").await;

    // While disabled, new deliveries are recorded as failed, not sent.
    let second = send_one(&app).await;
    app.deliver_all_due().await;
    let delivery = app.delivery(&second).await;
    assert_eq!(delivery["Status"], "Failed");
    assert!(delivery["LastError"].as_str().unwrap().contains("disabled"));
    assert_eq!(receiver.received().len(), 1);

    let recovered = app
        .post("/v1/integrations/deliveryconfig/hooks/recover", json!({}))
        .await;
    assert_eq!(recovered.status, StatusCode::OK, "{:?}", recovered.body);
    assert_eq!(recovered.body["Requeued"], 2);
    assert!(app
        .get("/v1/integrations/deliveryconfig/hooks")
        .await
        .body
        .get("DisabledTargets")
        .is_none());
    app.deliver_all_due().await;
    assert_eq!(app.delivery(&first).await["Status"], "Succeeded");
    assert_eq!(app.delivery(&second).await["Status"], "Succeeded");
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn recover_only_takes_failures_since_the_given_time() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    receiver.script([Reply::status(410)]);
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    send_one(&app).await;
    app.deliver_all_due().await;
    let future = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let reply = app
        .post(
            "/v1/integrations/deliveryconfig/hooks/recover",
            json!({"Since": future}),
        )
        .await;
    assert_eq!(reply.body["Requeued"], 0);
    let reply = app
        .post("/v1/integrations/deliveryconfig/ghost/recover", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn throttling_and_retry_after_push_the_next_attempt_out() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    receiver.script([Reply::status(429), Reply::status(503).with_header("Retry-After", "120")]);
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let id = send_one(&app).await;
    app.deliver_all_due().await;
    // 429: at least 60 s, whatever the 5 s schedule says.
    app.advance(Duration::from_secs(59));
    assert_eq!(app.deliver_all_due().await, 0);
    app.advance(Duration::from_secs(2));
    assert_eq!(app.deliver_all_due().await, 1);
    // 503 with Retry-After: 120 s (the schedule's 300 s ± 20 % is longer, so that holds).
    app.advance(Duration::from_secs(230));
    assert_eq!(app.deliver_all_due().await, 0);
    app.advance(Duration::from_secs(140));
    assert_eq!(app.deliver_all_due().await, 1);
    assert_eq!(app.delivery(&id).await["Status"], "Succeeded");
}

#[tokio::test]
async fn timeouts_refusals_and_redirects_are_failures_with_their_kind() {
    let app = TestApp::spawn().await;
    let slow = Receiver::start().await.expect("bind a receiver");
    slow.script([Reply::status(200).after(Duration::from_secs(3))]);
    let redirecting = Receiver::start().await.expect("bind a receiver");
    redirecting.always(Reply::status(302).with_header("Location", "http://127.0.0.1:1/elsewhere"));
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}/hook")
    };
    for (id, url) in [
        ("slow", slow.url.as_str()),
        ("redirect", redirecting.url.as_str()),
        ("closed", closed.as_str()),
    ] {
        app.post(
            "/v1/integrations/deliveryconfig",
            json!({"ID": id, "Name": id, "DeliveryTargets": {"Http": {"Endpoint": url}},
                   "DeliveryPolicy": {"TimeoutSeconds": 1}}),
        )
        .await;
        app.create_tracking_event(&format!("te-{id}"), "OrderSubmitted", id)
            .await;
    }
    let reply = app.trigger(order_submitted()).await;
    assert_eq!(reply.body["Deliveries"].as_array().unwrap().len(), 3);
    app.deliver_all_due().await;
    for (config, kind, floor) in [
        ("slow", "Timeout", 60),
        ("redirect", "Redirect", 4),
        ("closed", "Connect", 4),
    ] {
        let list = app.get(&format!("/v1/deliveries?DeliveryConfigID={config}")).await;
        let delivery = app.delivery(list.body["Items"][0]["ID"].as_str().unwrap()).await;
        assert_eq!(delivery["Status"], "Pending", "{config}");
        assert_eq!(delivery["Attempts"][0]["ErrorKind"], kind, "{config}: {delivery}");
        let next: chrono::DateTime<chrono::Utc> = delivery["NextAttemptAt"].as_str().unwrap().parse().unwrap();
        assert!(
            (next - app.clock.now()).num_seconds() >= floor,
            "{config}: next attempt too soon"
        );
    }
    assert_eq!(redirecting.received().len(), 1, "the redirect was not followed");
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allow_listed() {
    let mut settings = fresh_settings();
    settings.delivery.allowed_networks = String::new();
    let app = TestApp::spawn_with(settings).await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    for (id, url) in [("literal", receiver.url.as_str()), ("name", by_name.as_str())] {
        app.post(
            "/v1/integrations/deliveryconfig",
            json!({"ID": id, "Name": id, "DeliveryTargets": {"Http": {"Endpoint": url}}}),
        )
        .await;
        app.create_tracking_event(&format!("te-{id}"), "OrderSubmitted", id)
            .await;
    }
    app.trigger(order_submitted()).await;
    app.deliver_all_due().await;
    let failed = app.get("/v1/deliveries?Status=Failed").await;
    assert_eq!(failed.body["Meta"]["TotalCount"], 2, "{:?}", failed.body);
    for item in failed.body["Items"].as_array().unwrap() {
        let delivery = app.delivery(item["ID"].as_str().unwrap()).await;
        assert_eq!(delivery["Attempts"][0]["ErrorKind"], "ForbiddenAddress", "{delivery}");
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_delivery_can_be_retried_by_hand() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    receiver.script([Reply::status(410)]);
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let id = send_one(&app).await;
    app.deliver_all_due().await;
    // Re-enable the target, then replay that one delivery.
    app.post(
        "/v1/integrations/deliveryconfig/hooks/recover",
        json!({"Since": app.clock.now() + chrono::Duration::hours(1)}),
    )
    .await;
    let retried = app
        .call(
            Method::POST,
            &format!("/v1/deliveries/{id}/retry"),
            Some(Role::DeliveryConfigAdmin),
            None,
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
    assert_eq!(retried.body["Status"], "Pending");
    app.deliver_all_due().await;
    let delivery = app.delivery(&id).await;
    assert_eq!(delivery["Status"], "Succeeded");
    assert_eq!(delivery["Attempts"].as_array().unwrap().len(), 2);
    let missing = app
        .call(
            Method::POST,
            "/v1/deliveries/dlv_nope/retry",
            Some(Role::FullAccess),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let reader = app
        .call(
            Method::POST,
            &format!("/v1/deliveries/{id}/retry"),
            Some(Role::TrackingEventReader),
            None,
        )
        .await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_test_endpoint_sends_a_signed_sample_now() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let reply = app.post("/v1/integrations/deliveryconfig/hooks/test", json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body[0]["Target"], "Http");
    assert_eq!(reply.body[0]["Success"], true);
    assert_eq!(reply.body[0]["StatusCode"], 200);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["EventType"], "Test");
    assert!(received[0].path.ends_with("/hook"));
    assert_eq!(app.count("deliveries").await, 0, "tests are not queued");
}

#[tokio::test]
async fn a_claimed_delivery_given_back_is_due_again_as_if_never_claimed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let accepted = app.trigger(order_submitted()).await;
    let id = accepted.body["Deliveries"][0]["ID"].as_str().unwrap().to_owned();
    let (now, lease) = (app.clock.now(), chrono::Duration::seconds(60));

    let claimed = deliveries::claim(&app.pool, now, 10, lease, &[]).await.unwrap();
    assert_eq!(claimed.deliveries.len(), 1);
    let again = deliveries::claim(&app.pool, now, 10, lease, &[]).await.unwrap();
    assert!(again.deliveries.is_empty(), "leased");
    deliveries::release(&app.pool, &claimed.deliveries, now).await.unwrap();
    let released = app.delivery(&id).await;
    assert_eq!(released["Status"], "Pending");
    assert_eq!(released["AttemptCount"], 0);
    assert_eq!(released["LeaseUntil"], Value::Null);

    assert_eq!(app.deliver_all_due().await, 1);
    let delivered = app.delivery(&id).await;
    assert_eq!(delivered["Status"], "Succeeded");
    assert_eq!(delivered["Attempts"][0]["Number"], 1, "numbered as the first attempt");
    assert_eq!(receiver.received().len(), 1);
}
