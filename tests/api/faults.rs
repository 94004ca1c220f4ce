//! Faults inside: stored documents that cannot be read back (written before such documents were
//! refused) and database connections cut mid-request. Each stays with the request or delivery
//! it belongs to; neighbours are unaffected, and nothing half-done is kept. A database gone
//! from under a running server is a 503, as an unreachable one is.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use trackway::receiver::Receiver;

use crate::helpers::{poll, TestApp};

/// `levels` nested arrays as JSON text: past 128 no JSON parser of Trackway reads it back.
fn nested_text(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

/// Sets `xp` of a stored document (a SQL `table`'s json or jsonb `column`) to `levels`
/// nested arrays, as an older version could store it.
async fn nest_stored(pool: &PgPool, table: &str, column: &str, id: &str, levels: usize) {
    sqlx::query(&format!(
        "UPDATE {table} SET {column} = jsonb_set({column}::jsonb, '{{xp}}', $1::jsonb)::text::json WHERE id = $2"
    ))
    .bind(nested_text(levels))
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

fn order_submitted(order: &str) -> Value {
    json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": order})
}

#[tokio::test]
async fn a_trigger_that_cannot_be_read_fails_alone_and_its_batch_neighbours_are_accepted() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    for order in ["PO-readable", "PO-unreadable"] {
        let reply = app.put(&format!("/v1/orders/{order}"), json!({"Total": 1})).await;
        assert!(reply.status.is_success(), "{:?}", reply.body);
    }
    // The parser's limit is 128: a document far below it is read back, one past it is not.
    nest_stored(&app.pool, "orders", "doc", "PO-readable", 100).await;
    nest_stored(&app.pool, "orders", "doc", "PO-unreadable", 128).await;

    let mut triggers: Vec<Value> = (0..20).map(|i| order_submitted(&format!("PO{i}"))).collect();
    triggers.insert(7, order_submitted("PO-unreadable"));
    triggers.push(order_submitted("PO-readable"));
    let (_, statuses) = app.trigger_batch(triggers).await;
    let mut expected = vec![202; 22];
    expected[7] = 500;
    assert_eq!(statuses, expected);
    assert_eq!(app.count("events").await, 21);
    assert_eq!(app.deliver_all_due().await, 21);
    assert_eq!(receiver.received().len(), 21);
}

#[tokio::test]
async fn a_delivery_that_cannot_be_read_is_a_dead_letter_and_the_rest_of_its_claim_is_sent() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await.expect("bind a receiver");
    app.route("hooks", "OrderSubmitted", &receiver.url, "s").await;
    let mut deliveries = Vec::new();
    for i in 0..5 {
        let reply = app.trigger(order_submitted(&format!("PO{i}"))).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        deliveries.push((
            reply.body["ID"].as_str().unwrap().to_owned(),
            reply.body["Deliveries"][0]["ID"].as_str().unwrap().to_owned(),
        ));
    }
    let (poisoned_event, poisoned) = &deliveries[2];
    nest_stored(&app.pool, "events", "payload", poisoned_event, 128).await;

    assert_eq!(app.deliver_all_due().await, 5);
    assert_eq!(receiver.received().len(), 4);
    let dead = app.delivery(poisoned).await;
    assert_eq!(dead["Status"], "Failed", "{dead:?}");
    assert_eq!(dead["AttemptCount"], 1);
    assert_eq!(dead["Attempts"][0]["ErrorKind"], "Unreadable");
    let reason = dead["Attempts"][0]["ErrorMessage"].as_str().unwrap();
    assert!(reason.contains("stored payload cannot be read"), "{reason}");
    // Nothing is left leased or due: the next pass finds nothing.
    app.advance(Duration::from_secs(3600));
    assert_eq!(app.deliver_all_due().await, 0);
    assert_eq!(receiver.received().len(), 4);
}

/// A lock on `table` that holds requests reading or writing it until released.
pub struct TableLock(sqlx::Transaction<'static, sqlx::Postgres>);

impl TableLock {
    pub async fn take(pool: &PgPool, table: &str) -> TableLock {
        let mut lock = pool.begin().await.unwrap();
        sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .execute(&mut *lock)
            .await
            .unwrap();
        TableLock(lock)
    }

    /// Waits until a statement of the server waits for this lock, and returns its backend.
    pub async fn waiter(&self, pool: &PgPool) -> i32 {
        let waiting = poll(Duration::from_secs(10), || async {
            sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
            )
            .fetch_optional(pool)
            .await
            .unwrap()
        });
        waiting.await.expect("a request waits for the lock")
    }

    pub async fn release(self) {
        self.0.rollback().await.unwrap();
    }
}

/// Sends `request` while `table` is locked, terminates the backend that waits for the lock,
/// and returns the reply.
async fn with_connection_cut(
    app: &TestApp,
    table: &str,
    request: impl std::future::Future<Output = crate::helpers::Reply> + Send + 'static,
) -> crate::helpers::Reply {
    let lock = TableLock::take(&app.pool, table).await;
    let pending = tokio::spawn(request);
    let pid = lock.waiter(&app.pool).await;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&app.pool)
        .await
        .unwrap();
    lock.release().await;
    pending.await.unwrap()
}

#[tokio::test]
async fn a_database_connection_cut_mid_request_is_a_503_and_stores_nothing() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    app.create_delivery_config("hooks").await;
    app.create_tracking_event("orders", "OrderSubmitted", "hooks").await;

    let reader = app.clone();
    let listed = with_connection_cut(&app, "tracking_events", async move {
        reader.get("/v1/integrations/trackingEvents").await
    })
    .await;
    assert_eq!(listed.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", listed.body);
    assert_eq!(listed.error_code(), "ServiceUnavailable");
    assert_eq!(listed.headers["retry-after"], "1");

    let sender = app.clone();
    let trigger = json!({"ID": "t-1", "EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"});
    let sent = trigger.clone();
    let cut = with_connection_cut(&app, "events", async move { sender.trigger(sent).await }).await;
    assert_eq!(cut.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", cut.body);
    assert_eq!(cut.error_code(), "ServiceUnavailable");
    assert!(cut.body["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("nothing was stored"));
    assert_eq!(app.count("events").await, 0);
    assert_eq!(app.count("deliveries").await, 0);

    // Retried, it is accepted once.
    let retried = app.trigger(trigger).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn a_database_dropped_under_a_running_server_is_a_503_not_a_500() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let server = PgPool::connect(&format!("{}/postgres", crate::helpers::server_url()))
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&server)
        .await
        .unwrap();

    // A connection the drop cut is lost on its next use; after that, new ones are refused.
    let trigger = json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"});
    for _ in 0..2 {
        let replies = [
            app.trigger(trigger.clone()).await,
            app.get("/v1/integrations/deliveryconfig/hooks").await,
        ];
        for reply in replies {
            assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", reply.body);
            assert_eq!(reply.error_code(), "ServiceUnavailable");
            assert_eq!(reply.headers["retry-after"], "1");
        }
    }
    for reply in [
        app.trigger(trigger).await,
        app.get("/v1/integrations/deliveryconfig/hooks").await,
    ] {
        let message = reply.body["Errors"][0]["Message"].as_str().unwrap().to_owned();
        assert!(message.contains("refuses Trackway's connections"), "{message}");
    }
}
