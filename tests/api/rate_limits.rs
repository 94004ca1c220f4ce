//! `DeliveryPolicy.RateLimitPerSecond`: a target's tokens, counted in the database, bound what
//! claims take; deliveries held back wait in the queue without spending attempts, and other
//! targets are not held. (Two real instances sharing one limit: `processes.rs`.)

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use trackway::receiver::Receiver;

use crate::delivery::order_submitted;
use crate::helpers::TestApp;

#[tokio::test]
async fn a_rate_limited_target_gets_its_tokens_and_no_more_while_others_go_on() {
    let app = TestApp::spawn().await;
    let limited = Receiver::start().await.expect("bind a receiver");
    let free = Receiver::start().await.expect("bind a receiver");
    app.route("limited", "OrderSubmitted", &limited.url, "s").await;
    app.route("free", "OrderSubmitted", &free.url, "s").await;
    let reply = app
        .patch(
            "/v1/integrations/deliveryconfig/limited",
            json!({"DeliveryPolicy": {"RateLimitPerSecond": 10}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    for _ in 0..40 {
        assert_eq!(app.trigger(order_submitted()).await.status, StatusCode::ACCEPTED);
    }

    // The clock stands still: the first claim makes the target's bucket, full (half a second's
    // worth), and the next takes it all; then nothing more.
    app.deliver_all_due().await;
    assert_eq!(limited.received().len(), 5);
    assert_eq!(free.received().len(), 40, "another target is not held back");
    app.deliver_all_due().await;
    assert_eq!(limited.received().len(), 5);
    let held = app.get("/v1/deliveries?DeliveryConfigID=limited&Status=Pending").await;
    assert_eq!(held.body["Meta"]["TotalCount"], 35);
    let attempts: Vec<i64> = held.body["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["AttemptCount"].as_i64().unwrap())
        .collect();
    assert!(
        attempts.iter().all(|&n| n == 0),
        "held back without attempts: {attempts:?}"
    );

    // A fifth of a second refills two tokens; a long pause, never more than a full bucket.
    app.advance(Duration::from_millis(200));
    app.deliver_all_due().await;
    assert_eq!(limited.received().len(), 7);
    app.advance(Duration::from_secs(60));
    app.deliver_all_due().await;
    assert_eq!(limited.received().len(), 12);
    app.advance(Duration::from_secs(2));
    app.deliver_all_due().await;
    assert_eq!(limited.received().len(), 17);

    // Lifting the limit lets the rest go at once.
    let reply = app
        .patch(
            "/v1/integrations/deliveryconfig/limited",
            json!({"DeliveryPolicy": {"RateLimitPerSecond": null}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    app.deliver_all_due().await;
    assert_eq!(limited.received().len(), 40);
}
