//! The ErrorConfig singleton: the `error_config` table's one row.

use sqlx::PgPool;

use super::{classify, StorageError};
use crate::domain::ResourceId;

/// The DeliveryConfig failure notices go to, if one is set.
pub async fn get(pool: &PgPool) -> Result<Option<ResourceId>, StorageError> {
    let id: Option<String> = sqlx::query_scalar("SELECT delivery_config_id FROM error_config")
        .fetch_optional(pool)
        .await?;
    // Stored IDs were validated on the way in; a row that no longer parses is treated as unset.
    Ok(id.and_then(|id| ResourceId::parse("DeliveryConfigID", &id).ok()))
}

/// Sets it; `Ok(true)` when there was none before. [`StorageError::MissingReference`] when the
/// DeliveryConfig does not exist.
pub async fn set(pool: &PgPool, delivery_config_id: &ResourceId) -> Result<bool, StorageError> {
    sqlx::query_scalar(
        "INSERT INTO error_config (singleton, delivery_config_id) VALUES (true, $1)
         ON CONFLICT ON CONSTRAINT error_config_pkey DO UPDATE
         SET delivery_config_id = excluded.delivery_config_id, updated_at = now()
         RETURNING (xmax = 0)",
    )
    .bind(delivery_config_id.as_str())
    .fetch_one(pool)
    .await
    .map_err(|e| classify(e, "ErrorConfig", delivery_config_id.as_str()))
}

/// `Ok(false)` when none was set.
pub async fn delete(pool: &PgPool) -> Result<bool, StorageError> {
    let result = sqlx::query("DELETE FROM error_config").execute(pool).await?;
    Ok(result.rows_affected() == 1)
}
