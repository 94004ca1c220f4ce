//! DeliveryConfigs: the `delivery_configs` table.

use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};

use super::listing::{self, Column, Page};
use super::{classify, Reference, SaveError, Saved, StorageError};
use crate::domain::delivery_config::{DeliveryPolicy, DeliveryPolicyDoc};
use crate::domain::listing::{FieldKind, ListField, ListQuery};
use crate::domain::targets::{DeliveryTargets, DeliveryTargetsDoc, TargetKind};
use crate::domain::{DeliveryConfig, DeliveryConfigDoc, ResourceId};

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
            name: "Enabled",
            kind: FieldKind::Bool,
            searched_by_default: false,
        },
        sql: "enabled",
    },
    Column {
        field: ListField {
            name: "DeliveryTargets.Http.Endpoint",
            kind: FieldKind::Text,
            searched_by_default: false,
        },
        sql: "targets->'Http'->>'Endpoint'",
    },
];

/// The DeliveryConfig of claimed deliveries, as it is now (secrets included), parsed once for
/// all the deliveries that go by it.
#[derive(Debug, Clone)]
pub struct ConfigNow {
    pub id: String,
    pub enabled: bool,
    /// Its targets, or why the stored document no longer parses.
    pub targets: Result<DeliveryTargets, String>,
    pub policy: DeliveryPolicy,
    pub disabled_targets: Map<String, Value>,
}

impl ConfigNow {
    /// Parses a stored DeliveryConfig's targets and policy (a policy that no longer parses
    /// gives the defaults).
    pub fn parse(
        id: String,
        enabled: bool,
        targets: &DeliveryTargetsDoc,
        policy: &DeliveryPolicyDoc,
        disabled_targets: Map<String, Value>,
    ) -> ConfigNow {
        let targets = DeliveryTargets::parse_stored("DeliveryTargets", targets).map_err(|invalid| {
            let reason = invalid.0.first().map(|i| i.message.as_str()).unwrap_or("invalid");
            format!("DeliveryConfig {id} is invalid: {reason}")
        });
        ConfigNow {
            targets,
            policy: DeliveryPolicy::parse("DeliveryPolicy", Some(policy)).unwrap_or_default(),
            id,
            enabled,
            disabled_targets,
        }
    }

    pub fn disabled_reason(&self, target: TargetKind) -> Option<String> {
        disabled_reason(&self.disabled_targets, target)
    }

    /// Requests in flight at once to each of its targets, from each instance.
    pub fn max_in_flight(&self) -> u32 {
        self.policy.max_in_flight
    }
}

/// A DeliveryConfig's row, as [`ConfigNow`] is read from.
#[derive(sqlx::FromRow)]
pub(crate) struct ConfigRow {
    id: String,
    enabled: bool,
    targets: Json<DeliveryTargetsDoc>,
    policy: Json<DeliveryPolicyDoc>,
    disabled_targets: Json<Map<String, Value>>,
}

impl From<ConfigRow> for ConfigNow {
    fn from(row: ConfigRow) -> ConfigNow {
        ConfigNow::parse(row.id, row.enabled, &row.targets, &row.policy, row.disabled_targets.0)
    }
}

/// Why a target is switched off, if it is.
pub fn disabled_reason(disabled: &Map<String, Value>, target: TargetKind) -> Option<String> {
    disabled.get(target.as_str()).map(|d| {
        let reason = d.get("Reason").and_then(Value::as_str).unwrap_or("disabled");
        format!("{target} target is disabled: {reason}")
    })
}

const SELECT: &str = "SELECT id, name, enabled, targets, policy, disabled_targets";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    enabled: bool,
    targets: Json<DeliveryTargetsDoc>,
    policy: Json<DeliveryPolicyDoc>,
    disabled_targets: Json<serde_json::Map<String, serde_json::Value>>,
}

impl From<Row> for DeliveryConfigDoc {
    fn from(row: Row) -> Self {
        DeliveryConfigDoc {
            id: Some(row.id),
            name: Some(row.name),
            enabled: Some(row.enabled),
            delivery_targets: Some(row.targets.0),
            delivery_policy: Some(row.policy.0),
            disabled_targets: Some(row.disabled_targets.0).filter(|d| !d.is_empty()),
        }
    }
}

/// The fields a DeliveryConfig list can be searched, sorted and filtered on.
pub fn list_fields() -> Vec<ListField> {
    listing::fields(COLUMNS)
}

/// Creates a DeliveryConfig; [`StorageError::AlreadyExists`] when the ID is taken.
pub async fn insert(pool: &PgPool, config: &DeliveryConfig) -> Result<DeliveryConfigDoc, StorageError> {
    let doc = config.to_doc();
    sqlx::query("INSERT INTO delivery_configs (id, name, enabled, targets, policy) VALUES ($1, $2, $3, $4, $5)")
        .bind(config.id.as_str())
        .bind(&config.name)
        .bind(config.enabled)
        .bind(Json(&doc.delivery_targets))
        .bind(Json(&doc.delivery_policy))
        .execute(pool)
        .await
        .map_err(|e| classify(e, config.id.as_str(), ""))?;
    Ok(doc)
}

pub async fn get(pool: &PgPool, id: &ResourceId) -> Result<Option<DeliveryConfigDoc>, StorageError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} FROM delivery_configs WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Into::into))
}

pub async fn list(pool: &PgPool, query: &ListQuery) -> Result<Page<DeliveryConfigDoc>, StorageError> {
    let page: Page<Row> = listing::list(pool, SELECT, "delivery_configs", "id", COLUMNS, query).await?;
    Ok(Page {
        items: page.items.into_iter().map(Into::into).collect(),
        total: page.total,
    })
}

/// Read-modify-write under a row lock: `change` sees the stored document (if any) and returns
/// the config to store, or refuses. Serves PUT (create or replace) and PATCH (merge).
pub async fn save_with<E>(
    pool: &PgPool,
    id: &ResourceId,
    change: impl FnOnce(Option<DeliveryConfigDoc>) -> Result<DeliveryConfig, E>,
) -> Result<Saved<DeliveryConfigDoc>, SaveError<E>> {
    let mut tx = pool.begin().await?;
    let stored: Option<Row> = sqlx::query_as(&format!("{SELECT} FROM delivery_configs WHERE id = $1 FOR UPDATE"))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let stored: Option<DeliveryConfigDoc> = stored.map(Into::into);
    let stored_disabled = stored.as_ref().and_then(|s| s.disabled_targets.clone());
    let config = change(stored).map_err(SaveError::Rejected)?;
    let doc = config.to_doc();
    let created: bool = sqlx::query_scalar(
        "INSERT INTO delivery_configs (id, name, enabled, targets, policy) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT delivery_configs_pkey DO UPDATE
         SET name = excluded.name, enabled = excluded.enabled, targets = excluded.targets,
             policy = excluded.policy, updated_at = now()
         RETURNING (xmax = 0)",
    )
    .bind(config.id.as_str())
    .bind(&config.name)
    .bind(config.enabled)
    .bind(Json(&doc.delivery_targets))
    .bind(Json(&doc.delivery_policy))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let doc = DeliveryConfigDoc {
        disabled_targets: stored_disabled,
        ..doc
    };
    Ok(Saved { doc, created })
}

/// Deletes a DeliveryConfig. `Ok(false)` when there was none; [`StorageError::InUse`] listing
/// the TrackingEvents (and the ErrorConfig) that still name it.
pub async fn delete(pool: &PgPool, id: &ResourceId) -> Result<bool, StorageError> {
    let mut tx = pool.begin().await?;
    let used_by = references(&mut tx, id).await?;
    if !used_by.is_empty() {
        return Err(StorageError::InUse {
            kind: "DeliveryConfig",
            id: id.to_string(),
            used_by,
        });
    }
    let deleted = sqlx::query("DELETE FROM delivery_configs WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *tx)
        .await;
    match deleted {
        Ok(result) => {
            tx.commit().await?;
            Ok(result.rows_affected() == 1)
        }
        // A TrackingEvent naming this config committed between our check and the delete.
        Err(err) if err.as_database_error().is_some_and(|e| e.is_foreign_key_violation()) => {
            drop(tx);
            let mut tx = pool.begin().await?;
            Err(StorageError::InUse {
                kind: "DeliveryConfig",
                id: id.to_string(),
                used_by: references(&mut tx, id).await?,
            })
        }
        Err(err) => Err(err.into()),
    }
}

async fn references(tx: &mut Transaction<'_, Postgres>, id: &ResourceId) -> Result<Vec<Reference>, sqlx::Error> {
    let tracking_events: Vec<String> =
        sqlx::query_scalar("SELECT id FROM tracking_events WHERE delivery_config_id = $1 ORDER BY id")
            .bind(id.as_str())
            .fetch_all(&mut **tx)
            .await?;
    let error_config: Option<bool> = sqlx::query_scalar("SELECT true FROM error_config WHERE delivery_config_id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    let mut used_by: Vec<Reference> = tracking_events
        .into_iter()
        .map(|id| Reference {
            kind: "TrackingEvent",
            id,
        })
        .collect();
    if error_config.is_some() {
        used_by.push(Reference {
            kind: "ErrorConfig",
            id: "ErrorConfig".to_owned(),
        });
    }
    Ok(used_by)
}
