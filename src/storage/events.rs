//! Accepted events, as the records API reads them.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;

use super::listing::{self, Column, Page};
use super::StorageError;
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
            name: "EventType",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "event_type",
    },
    Column {
        field: ListField {
            name: "ClientID",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "client_id",
    },
    Column {
        field: ListField {
            name: "UserID",
            kind: FieldKind::Text,
            searched_by_default: true,
        },
        sql: "user_id",
    },
    Column {
        field: ListField {
            name: "AnonymousID",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "anonymous_id",
    },
    Column {
        field: ListField {
            name: "TriggerID",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "idempotency_key",
    },
    Column {
        field: ListField {
            name: "OccurredAt",
            kind: FieldKind::Time,
            searched_by_default: false,
        },
        sql: "occurred_at",
    },
    Column {
        field: ListField {
            name: "ReceivedAt",
            kind: FieldKind::Time,
            searched_by_default: false,
        },
        sql: "received_at",
    },
];

const SELECT: &str =
    "SELECT id, event_type, client_id, idempotency_key, user_id, anonymous_id, occurred_at, received_at, NULL::jsonb AS payload";

/// An accepted trigger as stored (its payload only when read by ID); the API renders it as
/// `api::records::EventRecord`.
#[derive(Debug, sqlx::FromRow)]
pub struct EventRecord {
    pub id: String,
    pub event_type: String,
    pub client_id: String,
    /// The sender's idempotency key (the trigger's `ID`).
    #[sqlx(rename = "idempotency_key")]
    pub trigger_id: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub payload: Option<Json<Value>>,
}

pub fn list_fields() -> Vec<ListField> {
    listing::fields(COLUMNS)
}

pub async fn list(pool: &PgPool, query: &ListQuery) -> Result<Page<EventRecord>, StorageError> {
    Ok(listing::list(pool, SELECT, "events", "id", COLUMNS, query).await?)
}

pub async fn get(pool: &PgPool, id: &str) -> Result<Option<EventRecord>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT id, event_type, client_id, idempotency_key, user_id, anonymous_id, occurred_at, received_at, payload
         FROM events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}
