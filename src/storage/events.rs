//! Accepted events, as the records API reads them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;
use utoipa::ToSchema;

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

/// An accepted trigger; `Payload` (the hydrated snapshot) only when read by ID.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "PascalCase")]
pub struct EventOut {
    #[serde(rename = "ID")]
    pub id: String,
    pub event_type: String,
    #[serde(rename = "ClientID")]
    pub client_id: String,
    /// The sender's idempotency key (the trigger's `ID`).
    #[serde(rename = "TriggerID")]
    #[sqlx(rename = "idempotency_key")]
    pub trigger_id: Option<String>,
    #[serde(rename = "UserID")]
    pub user_id: Option<String>,
    #[serde(rename = "AnonymousID")]
    pub anonymous_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Json<Value>>,
}

pub fn list_fields() -> Vec<ListField> {
    listing::fields(COLUMNS)
}

pub async fn list(pool: &PgPool, query: &ListQuery) -> Result<Page<EventOut>, StorageError> {
    Ok(listing::list(pool, SELECT, "events", "id", COLUMNS, query).await?)
}

pub async fn get(pool: &PgPool, id: &str) -> Result<Option<EventOut>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT id, event_type, client_id, idempotency_key, user_id, anonymous_id, occurred_at, received_at, payload
         FROM events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}
