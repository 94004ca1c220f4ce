//! The database's closed lists are the code's: each CHECK on a column that holds one of the
//! domain's enums allows exactly its values.

use trackway::domain::attempt::FailureKind;
use trackway::domain::delivery::DeliveryStatus;

use crate::helpers::TestApp;

/// The quoted values a named CHECK constraint allows, in its order.
async fn allowed(app: &TestApp, constraint: &str) -> Vec<String> {
    let definition: String =
        sqlx::query_scalar("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1")
            .bind(constraint)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("no constraint {constraint}: {e}"));
    definition.split('\'').skip(1).step_by(2).map(str::to_owned).collect()
}

#[tokio::test]
async fn the_database_allows_exactly_the_delivery_statuses_and_failure_kinds_of_the_code() {
    let app = TestApp::spawn().await;
    let statuses: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(allowed(&app, "deliveries_status_check").await, statuses);
    let kinds: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(allowed(&app, "delivery_attempts_error_kind_check").await, kinds);
}
