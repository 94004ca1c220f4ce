//! Deliveries as the records API reads and operates on them: lists, one delivery with every
//! attempt, manual retry, and recovery of a DeliveryConfig's dead letters.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::ingest::CHANNEL;
use super::listing::{self, Column, Page};
use super::StorageError;
use crate::domain::attempt::FailureKind;
use crate::domain::delivery::{DeliveryId, DeliveryStatus};
use crate::domain::listing::{FieldKind, ListField, ListQuery};

const COLUMNS: &[Column] = &[
    Column {
        field: ListField {
            name: "ID",
            kind: FieldKind::Text,
            searched_by_default: true,
        },
        sql: "id",
    },
    Column {
        field: ListField {
            name: "Status",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "status",
    },
    Column {
        field: ListField {
            name: "EventID",
            kind: FieldKind::Text,
            searched_by_default: true,
        },
        sql: "event_id",
    },
    Column {
        field: ListField {
            name: "DeliveryConfigID",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "delivery_config_id",
    },
    Column {
        field: ListField {
            name: "TrackingEventID",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "tracking_event_id",
    },
    Column {
        field: ListField {
            name: "Target",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "target",
    },
    Column {
        field: ListField {
            name: "DateCreated",
            kind: FieldKind::Time,
            searched_by_default: false,
        },
        sql: "created_at",
    },
];

const SELECT: &str = "SELECT id, event_id, tracking_event_id, delivery_config_id, target, status, attempts,
                             next_attempt_at, lease_until, last_status_code, last_error, created_at, updated_at";

/// A delivery as stored; the API renders it as `api::records::DeliveryRecord`.
#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub event_id: String,
    pub tracking_event_id: String,
    pub delivery_config_id: String,
    pub target: String,
    /// Pending (queued or in flight), Succeeded, Failed (dead letter) or Skipped.
    pub status: DeliveryStatus,
    #[sqlx(rename = "attempts")]
    pub attempt_count: i32,
    /// When the next attempt is due (Pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// Set while an attempt is in flight.
    pub lease_until: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    #[sqlx(rename = "created_at")]
    pub date_created: DateTime<Utc>,
    #[sqlx(rename = "updated_at")]
    pub last_updated: DateTime<Utc>,
    /// Every attempt, oldest first (when read by ID).
    #[sqlx(skip)]
    pub attempts: Option<Vec<AttemptRecord>>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct AttemptRecord {
    #[sqlx(rename = "n")]
    pub number: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub status_code: Option<i32>,
    /// Why the attempt failed, when it did.
    pub error_kind: Option<FailureKind>,
    pub error_message: Option<String>,
    /// The start of the response body (at most `delivery.max_response_bytes`).
    pub response_body: Option<String>,
}

pub fn list_fields() -> Vec<ListField> {
    listing::fields(COLUMNS)
}

pub async fn list(pool: &PgPool, query: &ListQuery) -> Result<Page<DeliveryRecord>, StorageError> {
    Ok(listing::list(pool, SELECT, "deliveries", "id", COLUMNS, query).await?)
}

pub async fn get(pool: &PgPool, id: &DeliveryId) -> Result<Option<DeliveryRecord>, StorageError> {
    let delivery: Option<DeliveryRecord> = sqlx::query_as(&format!("{SELECT} FROM deliveries WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(mut delivery) = delivery else {
        return Ok(None);
    };
    let attempts: Vec<AttemptRecord> = sqlx::query_as(
        "SELECT n, started_at, duration_ms, status_code, error_kind, error_message, response_body
         FROM delivery_attempts WHERE delivery_id = $1 ORDER BY n",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    delivery.attempts = Some(attempts);
    Ok(Some(delivery))
}

/// The deliveries of one event, for its record.
pub async fn of_event(pool: &PgPool, event_id: &str) -> Result<Vec<DeliveryRecord>, StorageError> {
    Ok(
        sqlx::query_as(&format!("{SELECT} FROM deliveries WHERE event_id = $1 ORDER BY id"))
            .bind(event_id)
            .fetch_all(pool)
            .await?,
    )
}

#[derive(Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    Queued,
    NotFound,
    /// An attempt is in flight right now.
    InFlight,
}

/// Makes a delivery due now, whatever its state (a Succeeded one is sent again). Its attempt
/// numbering continues; the retry schedule, if spent, allows this one attempt.
pub async fn retry(pool: &PgPool, id: &DeliveryId, now: DateTime<Utc>) -> Result<RetryOutcome, StorageError> {
    let mut tx = pool.begin().await?;
    let state: Option<(DeliveryStatus, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT status, lease_until FROM deliveries WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match state {
        None => return Ok(RetryOutcome::NotFound),
        Some((DeliveryStatus::Pending, Some(lease))) if lease > now => return Ok(RetryOutcome::InFlight),
        Some(_) => {}
    }
    sqlx::query(
        "UPDATE deliveries SET status = 'Pending', next_attempt_at = $2, lease_until = NULL, updated_at = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(RetryOutcome::Queued)
}

/// Re-queues a DeliveryConfig's failed deliveries created since `since` (all when `None`) and
/// re-enables its disabled targets. Returns how many were re-queued, or `None` when the
/// DeliveryConfig does not exist.
pub async fn recover(
    pool: &PgPool,
    delivery_config_id: &str,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<u64>, StorageError> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query("UPDATE delivery_configs SET disabled_targets = '{}', updated_at = $2 WHERE id = $1")
        .bind(delivery_config_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if found.rows_affected() == 0 {
        return Ok(None);
    }
    let requeued = sqlx::query(
        "UPDATE deliveries SET status = 'Pending', next_attempt_at = $3, lease_until = NULL, updated_at = $3
         WHERE delivery_config_id = $1 AND status = 'Failed' AND ($2::timestamptz IS NULL OR created_at >= $2)",
    )
    .bind(delivery_config_id)
    .bind(since)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if requeued > 0 {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Some(requeued))
}
