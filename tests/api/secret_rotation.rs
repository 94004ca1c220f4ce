//! Rotating an Http target's Secret without downtime. Two receivers check each delivery as
//! Standard Webhooks receivers do, one with the old Secret and one with the new: the old one
//! keeps verifying until the grace period ends on the app's clock, the new one verifies from
//! the rotation on, for real deliveries and test deliveries alike. Rotations come from
//! `POST …/rotatesecret` and from PUT or PATCH with a different Secret; the same Secret, the
//! mask and bad requests rotate nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use trackway::receiver::{Received, Receiver};

use crate::delivery::send_one;
use crate::helpers::{fresh_settings, Reply, TestApp};

const PATH: &str = "/v1/integrations/deliveryconfig";
const OLD: &str = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0";
const NEW: &str = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0";
const HOUR: Duration = Duration::from_secs(3600);

/// A receiver, and DeliveryConfig `hooks` to it signed with [`OLD`] for OrderSubmitted.
async fn signed_with_old(app: &TestApp) -> Receiver {
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, OLD).await;
    receiver
}

/// One delivery of a new trigger, as it arrived.
async fn delivered(app: &TestApp, receiver: &Receiver) -> Received {
    send_one(app).await;
    assert_eq!(app.deliver_all_due().await, 1);
    receiver.received().pop().expect("a delivery arrived")
}

/// One test delivery (`POST …/test`), as it arrived.
async fn tested(app: &TestApp, receiver: &Receiver) -> Received {
    let reply = app.post(&format!("{PATH}/hooks/test"), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body[0]["Success"], true, "{:?}", reply.body);
    let received = receiver.received().pop().expect("a test delivery arrived");
    assert_eq!(received.json()["EventType"], "Test");
    received
}

/// Whether the receiver holding the old Secret, and the one holding the new, accept `received`.
fn verified_by(received: &Received) -> (bool, bool) {
    (received.signed_with(OLD), received.signed_with(NEW))
}

fn signatures(received: &Received) -> usize {
    received.header("webhook-signature").unwrap().split(' ').count()
}

async fn rotate(app: &TestApp, id: &str, body: Value) -> Reply {
    app.post(&format!("{PATH}/{id}/rotatesecret"), body).await
}

/// What readers are shown of `hooks`' rotation: when the old Secret stops signing, if it still does.
async fn shown_rotation(app: &TestApp) -> Option<DateTime<Utc>> {
    let config = app.get(&format!("{PATH}/hooks")).await.body;
    assert!(!config.to_string().contains("whsec_"), "a Secret is shown: {config}");
    let rotation = config["DeliveryTargets"]["Http"].get("SecretRotation")?;
    Some(rotation["PreviousExpiresAt"].as_str()?.parse().unwrap())
}

#[tokio::test]
async fn the_old_secret_verifies_until_the_grace_period_ends_and_the_new_one_from_the_rotation_on() {
    let app = TestApp::spawn().await;
    let receiver = signed_with_old(&app).await;
    assert_eq!(verified_by(&delivered(&app, &receiver).await), (true, false));

    let rotated = rotate(&app, "hooks", json!({"Secret": NEW})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let ends = app.clock.now() + chrono::Duration::hours(24);
    assert_eq!(
        rotated.body,
        json!({"PreviousExpiresAt": ends}),
        "a given Secret is not echoed"
    );
    assert_eq!(shown_rotation(&app).await, Some(ends));

    for received in [delivered(&app, &receiver).await, tested(&app, &receiver).await] {
        assert_eq!(verified_by(&received), (true, true));
        assert_eq!(signatures(&received), 2);
        assert!(received.ordercloud_hashed_with(NEW), "X-oc-hash is the new Secret's");
    }

    // A delivery refused during the grace period is signed anew at each attempt.
    receiver.script([trackway::receiver::Reply::status(500)]);
    app.advance(24 * HOUR - Duration::from_secs(2));
    send_one(&app).await;
    assert_eq!(app.deliver_all_due().await, 1);
    assert_eq!(verified_by(&receiver.received().pop().unwrap()), (true, true));
    assert_eq!(shown_rotation(&app).await, Some(ends));

    app.advance(Duration::from_secs(2));
    assert_eq!(shown_rotation(&app).await, None);
    app.advance(Duration::from_secs(6));
    assert_eq!(app.deliver_all_due().await, 1, "the retry");
    let retried = receiver.received().pop().unwrap();
    assert_eq!((verified_by(&retried), signatures(&retried)), ((false, true), 1));
    for received in [delivered(&app, &receiver).await, tested(&app, &receiver).await] {
        assert_eq!((verified_by(&received), signatures(&received)), ((false, true), 1));
    }
}

#[tokio::test]
async fn an_omitted_secret_is_generated_and_shown_once_and_a_grace_period_of_0_cuts_over_at_once() {
    let app = TestApp::spawn().await;
    let receiver = signed_with_old(&app).await;

    let rotated = rotate(&app, "hooks", json!({"GracePeriodHours": 2})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let generated = rotated.body["Secret"].as_str().unwrap().to_owned();
    assert!(generated.starts_with("whsec_") && generated.len() == 50, "{generated}");
    let ends = app.clock.now() + chrono::Duration::hours(2);
    assert_eq!(rotated.body["PreviousExpiresAt"], json!(ends));
    assert_eq!(shown_rotation(&app).await, Some(ends));
    let received = delivered(&app, &receiver).await;
    assert!(received.signed_with(&generated) && received.signed_with(OLD));

    // A Secret that leaked is replaced at once: neither earlier Secret signs any more.
    let rotated = rotate(&app, "hooks", json!({"Secret": NEW, "GracePeriodHours": 0})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_eq!(rotated.body, json!({}));
    assert_eq!(shown_rotation(&app).await, None);
    let received = delivered(&app, &receiver).await;
    assert_eq!(verified_by(&received), (false, true));
    assert!(!received.signed_with(&generated));
}

#[tokio::test]
async fn a_put_with_a_different_secret_rotates_and_one_with_the_mask_or_the_same_secret_does_not() {
    let app = TestApp::spawn().await;
    let receiver = signed_with_old(&app).await;
    let fetched = app.get(&format!("{PATH}/hooks")).await.body;
    assert_eq!(fetched["DeliveryTargets"]["Http"]["Secret"], "********");

    let mut same = fetched.clone();
    same["DeliveryTargets"]["Http"]["Secret"] = json!(OLD);
    for unchanged in [fetched.clone(), same] {
        let reply = app.put(&format!("{PATH}/hooks"), unchanged).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert!(reply.body["DeliveryTargets"]["Http"].get("SecretRotation").is_none());
        assert_eq!(shown_rotation(&app).await, None);
        let received = delivered(&app, &receiver).await;
        assert_eq!((verified_by(&received), signatures(&received)), ((true, false), 1));
    }

    let mut changed = fetched;
    changed["DeliveryTargets"]["Http"]["Secret"] = json!(NEW);
    let reply = app.put(&format!("{PATH}/hooks"), changed).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let ends = app.clock.now() + chrono::Duration::hours(24);
    assert_eq!(
        reply.body["DeliveryTargets"]["Http"]["SecretRotation"],
        json!({"PreviousExpiresAt": ends})
    );
    assert_eq!(verified_by(&delivered(&app, &receiver).await), (true, true));

    // Read back and PUT again unchanged (the mask, the rotation shown), it goes on as it was.
    app.advance(HOUR);
    let fetched = app.get(&format!("{PATH}/hooks")).await.body;
    let reply = app.put(&format!("{PATH}/hooks"), fetched).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(shown_rotation(&app).await, Some(ends));
    assert_eq!(verified_by(&delivered(&app, &receiver).await), (true, true));
    app.advance(23 * HOUR);
    assert_eq!(verified_by(&delivered(&app, &receiver).await), (false, true));
}

#[tokio::test]
async fn a_patch_rotates_for_the_configured_grace_period_and_retires_the_oldest_secret() {
    let mut settings = fresh_settings();
    settings.delivery.secret_rotation_grace_hours = 1;
    let app = TestApp::spawn_with(settings).await;
    let receiver = signed_with_old(&app).await;
    let patch = |secret: &str| json!({"DeliveryTargets": {"Http": {"Secret": secret}}});

    let reply = app.patch(&format!("{PATH}/hooks"), patch(NEW)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let ends = app.clock.now() + chrono::Duration::hours(1);
    assert_eq!(shown_rotation(&app).await, Some(ends));
    assert_eq!(verified_by(&delivered(&app, &receiver).await), (true, true));

    // A PATCH that leaves the Secret alone leaves the rotation alone.
    app.advance(HOUR / 4);
    let renamed = app.patch(&format!("{PATH}/hooks"), json!({"Name": "Renamed"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(shown_rotation(&app).await, Some(ends));

    let third = "whsec_dGhpcmQtc2VjcmV0LXRoaXJkLXNlY3JldA==";
    app.advance(HOUR / 4);
    let reply = app.patch(&format!("{PATH}/hooks"), patch(third)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let received = delivered(&app, &receiver).await;
    assert_eq!(verified_by(&received), (false, true));
    assert!(received.signed_with(third));
    app.advance(HOUR);
    let received = delivered(&app, &receiver).await;
    assert_eq!(verified_by(&received), (false, false));
    assert!(received.signed_with(third));
}

#[tokio::test]
async fn bad_rotations_get_precise_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let receiver = signed_with_old(&app).await;
    let segment = json!({"ID": "segment", "Name": "s", "DeliveryTargets": {"Segment": {"WriteKey": "w"}}});
    assert_eq!(app.post(PATH, segment).await.status, StatusCode::CREATED);
    let stored = || async {
        sqlx::query_scalar::<_, Value>("SELECT jsonb_agg(targets ORDER BY id) FROM delivery_configs")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let before = stored().await;

    let missing = rotate(&app, "nope", json!({"Secret": NEW})).await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (StatusCode::NOT_FOUND, "NotFound")
    );
    assert_eq!(missing.body["Errors"][0]["Data"]["ObjectID"], "nope");
    let no_http = rotate(&app, "segment", json!({"Secret": NEW})).await;
    assert_eq!(
        (no_http.status, no_http.error_code()),
        (StatusCode::CONFLICT, "NoHttpTarget")
    );
    assert_eq!(no_http.body["Errors"][0]["Data"]["ObjectID"], "segment");

    let too_long = "x".repeat(513);
    for (body, code, field) in [
        (json!({"Secret": ""}), "InvalidValue", "Secret"),
        (json!({"Secret": "********"}), "InvalidValue", "Secret"),
        (json!({"Secret": too_long}), "InvalidValue", "Secret"),
        (json!({"Secret": OLD}), "InvalidValue", "Secret"),
        (json!({"Secret": 7}), "InvalidFieldType", "Secret"),
        (json!({"GracePeriodHours": 169}), "InvalidValue", "GracePeriodHours"),
        (json!({"GracePeriodHours": -1}), "InvalidValue", "GracePeriodHours"),
        (json!({"GracePeriodHours": 1.5}), "InvalidFieldType", "GracePeriodHours"),
        (json!({"Secret": NEW, "Grace": 2}), "UnknownField", "Grace"),
    ] {
        let reply = rotate(&app, "hooks", body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {:?}", reply.body);
        assert_eq!(
            (reply.error_code(), reply.error_fields()),
            (code, vec![field.to_owned()]),
            "{body}"
        );
    }
    let both = rotate(&app, "hooks", json!({"Secret": "", "GracePeriodHours": 1000})).await;
    assert_eq!(both.error_fields(), ["Secret", "GracePeriodHours"]);

    assert_eq!(stored().await, before);
    assert_eq!(shown_rotation(&app).await, None);
    let received = delivered(&app, &receiver).await;
    assert_eq!((verified_by(&received), signatures(&received)), ((true, false), 1));
}
