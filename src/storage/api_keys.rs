//! API keys: the `api_keys` table. Tokens never reach it, only their SHA-256.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use super::StorageError;
use crate::domain::api_key::{generate_token, token_hash, ApiKey};
use crate::domain::{ResourceId, Role};

/// What `keys create` asks for.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub roles: Vec<Role>,
    pub client_ids: Vec<ResourceId>,
}

/// A key as `keys list` shows it.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub key: ApiKey,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    roles: Vec<String>,
    client_ids: Vec<String>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl Row {
    /// Unknown roles (from a newer version's rows) grant nothing rather than failing the lookup.
    fn into_record(self) -> ApiKeyRecord {
        ApiKeyRecord {
            key: ApiKey {
                id: self.id,
                name: self.name,
                roles: self.roles.iter().filter_map(|r| r.parse().ok()).collect(),
                client_ids: self
                    .client_ids
                    .iter()
                    .filter_map(|c| ResourceId::parse("ClientID", c).ok())
                    .collect(),
            },
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// Stores a new key and returns it with its token — the only time the token exists outside
/// the caller's hands.
pub async fn create(pool: &PgPool, new: &NewApiKey) -> Result<(ApiKey, SecretString), StorageError> {
    let id = Uuid::now_v7();
    let token = generate_token();
    let roles: Vec<&str> = new.roles.iter().map(|r| r.as_str()).collect();
    let client_ids: Vec<&str> = new.client_ids.iter().map(ResourceId::as_str).collect();
    sqlx::query("INSERT INTO api_keys (id, name, token_hash, roles, client_ids) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(&new.name)
        .bind(&token_hash(&token)[..])
        .bind(&roles)
        .bind(&client_ids)
        .execute(pool)
        .await?;
    let key = ApiKey {
        id,
        name: new.name.clone(),
        roles: new.roles.clone(),
        client_ids: new.client_ids.clone(),
    };
    Ok((key, token))
}

/// The live (not revoked) key whose token hashes to `hash`.
pub async fn find_by_token_hash(pool: &PgPool, hash: &[u8; 32]) -> Result<Option<ApiKey>, StorageError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, name, roles, client_ids, created_at, revoked_at FROM api_keys
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(&hash[..])
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.into_record().key))
}

pub async fn list(pool: &PgPool) -> Result<Vec<ApiKeyRecord>, StorageError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, roles, client_ids, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Row::into_record).collect())
}

/// Revokes a key; `Ok(false)` when no live key has that ID.
pub async fn revoke(pool: &PgPool, id: Uuid) -> Result<bool, StorageError> {
    let result = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}
