//! The receiver through real requests: replies in script order, waiting, both logs.

use super::*;

async fn post(url: &str, id: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .body(r#"{"EventType":"OrderSubmitted"}"#);
    if let Some(id) = id {
        request = request.header("webhook-id", id);
    }
    request.send().await.expect("the receiver answers")
}

#[tokio::test]
async fn answers_from_the_script_in_order_then_from_the_fallback() {
    let receiver = Receiver::start().await.expect("bind a receiver");
    assert_eq!(
        post(&receiver.url, None).await.status(),
        200,
        "200 before anything is set"
    );
    receiver.script([Reply::status(503), Reply::status(429).with_header("Retry-After", "90")]);
    receiver.always(Reply::status(204));

    let statuses = [
        post(&receiver.url, None).await,
        post(&receiver.url, None).await,
        post(&receiver.url, None).await,
        post(&receiver.url, None).await,
    ]
    .map(|response| {
        (
            response.status().as_u16(),
            response.headers().get("retry-after").cloned(),
        )
    });
    assert_eq!(statuses[0], (503, None));
    assert_eq!(statuses[1], (429, Some("90".parse().unwrap())));
    assert_eq!(statuses[2], (204, None));
    assert_eq!(statuses[3], (204, None));
}

#[tokio::test]
async fn keeps_each_request_whole() {
    let receiver = Receiver::start().await.expect("bind a receiver");
    let before = Instant::now();
    post(&format!("{}/v1/track", receiver.origin), Some("msg_1")).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/track");
    assert_eq!(received[0].header("Webhook-ID"), Some("msg_1"));
    assert_eq!(received[0].json()["EventType"], "OrderSubmitted");
    assert!(received[0].at >= before);
}

#[tokio::test]
async fn waiting_wakes_on_an_arrival_and_gives_up_after_its_timeout() {
    let receiver = Receiver::start().await.expect("bind a receiver");
    let (arrived, _) = tokio::join!(
        receiver.wait_for(1, Duration::from_secs(30)),
        post(&receiver.url, Some("msg_1"))
    );
    assert_eq!(arrived.len(), 1);

    assert!(
        !receiver.wait_until(2, Duration::from_millis(50)).await,
        "no second request came"
    );
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn counting_keeps_the_arrivals_of_each_header_value() {
    let receiver = Receiver::counting_by("webhook-id").await.expect("bind a receiver");
    for id in [Some("msg_1"), Some("msg_2"), Some("msg_1"), None] {
        assert_eq!(post(&receiver.url, id).await.status(), 200);
    }

    assert_eq!(receiver.count(), 4, "the request without the header is counted");
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 2);
    assert_eq!(arrivals["msg_1"].len(), 2, "a duplicate is kept");
    assert!(arrivals["msg_1"][0] <= arrivals["msg_1"][1]);
    let wanted = ["msg_1", "msg_2", "msg_3"].map(String::from);
    assert_eq!(receiver.received_of(&wanted), 2);
}
