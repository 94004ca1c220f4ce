//! TrackingEvents: the `tracking_events` table.

use sqlx::types::Json;
use sqlx::PgPool;

use super::listing::{self, Column, Page};
use super::{classify, SaveError, Saved, StorageError};
use crate::domain::listing::{FieldKind, ListField, ListQuery};
use crate::domain::{ResourceId, TrackingEvent, TrackingEventDoc};

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
            name: "Name",
            kind: FieldKind::Text,
            searched_by_default: true,
        },
        sql: "name",
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
            name: "DeliveryConfigID",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "delivery_config_id",
    },
];

const SELECT: &str = "SELECT id, name, event_type, client_id, delivery_config_id, config_data";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    event_type: String,
    client_id: String,
    delivery_config_id: String,
    config_data: Option<Json<serde_json::Value>>,
}

impl From<Row> for TrackingEventDoc {
    fn from(row: Row) -> Self {
        TrackingEventDoc {
            id: Some(row.id),
            name: Some(row.name),
            event_type: Some(row.event_type),
            client_id: Some(row.client_id),
            delivery_config_id: Some(row.delivery_config_id),
            config_data: row.config_data.map(|j| j.0),
        }
    }
}

/// The fields a TrackingEvent list can be searched, sorted and filtered on.
pub fn list_fields() -> Vec<ListField> {
    listing::fields(COLUMNS)
}

/// Creates a TrackingEvent: [`StorageError::AlreadyExists`] when the ID is taken,
/// [`StorageError::MissingReference`] when its DeliveryConfig does not exist.
pub async fn insert(pool: &PgPool, event: &TrackingEvent) -> Result<TrackingEventDoc, StorageError> {
    sqlx::query(
        "INSERT INTO tracking_events (id, name, event_type, client_id, delivery_config_id, config_data)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id.as_str())
    .bind(&event.name)
    .bind(event.event_type.as_str())
    .bind(event.client_id.as_str())
    .bind(event.delivery_config_id.as_str())
    .bind(event.config_data.as_ref().map(Json))
    .execute(pool)
    .await
    .map_err(|e| classify(e, event.id.as_str(), event.delivery_config_id.as_str()))?;
    Ok(event.to_doc())
}

pub async fn get(pool: &PgPool, id: &ResourceId) -> Result<Option<TrackingEventDoc>, StorageError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} FROM tracking_events WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Into::into))
}

pub async fn list(pool: &PgPool, query: &ListQuery) -> Result<Page<TrackingEventDoc>, StorageError> {
    let page: Page<Row> = listing::list(pool, SELECT, "tracking_events", "id", COLUMNS, query).await?;
    Ok(Page {
        items: page.items.into_iter().map(Into::into).collect(),
        total: page.total,
    })
}

/// Read-modify-write under a row lock, as [`super::delivery_configs::save_with`].
pub async fn save_with<E>(
    pool: &PgPool,
    id: &ResourceId,
    change: impl FnOnce(Option<TrackingEventDoc>) -> Result<TrackingEvent, E>,
) -> Result<Saved<TrackingEventDoc>, SaveError<E>> {
    let mut tx = pool.begin().await?;
    let stored: Option<Row> = sqlx::query_as(&format!("{SELECT} FROM tracking_events WHERE id = $1 FOR UPDATE"))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let event = change(stored.map(Into::into)).map_err(SaveError::Rejected)?;
    let created: bool = sqlx::query_scalar(
        "INSERT INTO tracking_events (id, name, event_type, client_id, delivery_config_id, config_data)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT tracking_events_pkey DO UPDATE
         SET name = excluded.name, event_type = excluded.event_type, client_id = excluded.client_id,
             delivery_config_id = excluded.delivery_config_id, config_data = excluded.config_data,
             updated_at = now()
         RETURNING (xmax = 0)",
    )
    .bind(event.id.as_str())
    .bind(&event.name)
    .bind(event.event_type.as_str())
    .bind(event.client_id.as_str())
    .bind(event.delivery_config_id.as_str())
    .bind(event.config_data.as_ref().map(Json))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| classify(e, event.id.as_str(), event.delivery_config_id.as_str()))?;
    tx.commit().await?;
    Ok(Saved {
        doc: event.to_doc(),
        created,
    })
}

/// `Ok(false)` when there was nothing to delete.
pub async fn delete(pool: &PgPool, id: &ResourceId) -> Result<bool, StorageError> {
    let result = sqlx::query("DELETE FROM tracking_events WHERE id = $1")
        .bind(id.as_str())
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}
