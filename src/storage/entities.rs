//! The entity store: Users, Products, Orders and their LineItems as the commerce platform last
//! sent them, read back to hydrate triggers. Writes replace the whole document.

use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::StorageError;
use crate::domain::trigger::Entity;
use crate::domain::ResourceId;

pub use super::entity_writes::{write, Overlay, Removed, Writes};

type Doc = Map<String, Value>;

/// The stores keyed by ID alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    Users,
    Products,
}

impl Keyed {
    fn select_sql(self) -> &'static str {
        match self {
            Keyed::Users => "SELECT doc FROM users WHERE id = ANY($1) ORDER BY id",
            Keyed::Products => "SELECT doc FROM products WHERE id = ANY($1) ORDER BY id",
        }
    }

    fn delete_sql(self) -> &'static str {
        match self {
            Keyed::Users => "DELETE FROM users WHERE id = $1",
            Keyed::Products => "DELETE FROM products WHERE id = $1",
        }
    }
}

pub async fn fetch(conn: &mut PgConnection, store: Keyed, ids: &[String]) -> Result<Vec<Doc>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let docs: Vec<Json<Doc>> = sqlx::query_scalar(store.select_sql()).bind(ids).fetch_all(conn).await?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}

/// The order's document and the user it belongs to.
pub async fn fetch_order(
    conn: &mut PgConnection,
    id: &ResourceId,
) -> Result<Option<(Doc, Option<String>)>, sqlx::Error> {
    let row: Option<(Json<Doc>, Option<String>)> = sqlx::query_as("SELECT doc, user_id FROM orders WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(doc, user)| (doc.0, user)))
}

// The entity-store API's single-document operations.

pub async fn put_keyed(pool: &PgPool, store: Keyed, entity: &Entity) -> Result<(), StorageError> {
    let mut conn = pool.acquire().await?;
    let writes = match store {
        Keyed::Users => Writes {
            users: vec![entity],
            ..Writes::default()
        },
        Keyed::Products => Writes {
            products: vec![entity],
            ..Writes::default()
        },
    };
    write(&mut conn, &writes).await?;
    Ok(())
}

pub async fn get_keyed(pool: &PgPool, store: Keyed, id: &ResourceId) -> Result<Option<Doc>, StorageError> {
    let mut conn = pool.acquire().await?;
    Ok(fetch(&mut conn, store, &[id.to_string()]).await?.pop())
}

pub async fn delete_keyed(pool: &PgPool, store: Keyed, id: &ResourceId) -> Result<bool, StorageError> {
    let result = sqlx::query(store.delete_sql()).bind(id.as_str()).execute(pool).await?;
    Ok(result.rows_affected() == 1)
}

pub async fn put_order(pool: &PgPool, order: &Entity) -> Result<(), StorageError> {
    let mut conn = pool.acquire().await?;
    let writes = Writes {
        orders: vec![(order, order.reference("FromUserID"))],
        ..Writes::default()
    };
    write(&mut conn, &writes).await?;
    Ok(())
}

pub async fn get_order(pool: &PgPool, id: &ResourceId) -> Result<Option<Doc>, StorageError> {
    let mut conn = pool.acquire().await?;
    Ok(fetch_order(&mut conn, id).await?.map(|(doc, _)| doc))
}

pub async fn delete_order(pool: &PgPool, id: &ResourceId) -> Result<bool, StorageError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM line_items WHERE order_id = $1")
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    let result = sqlx::query("DELETE FROM orders WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(result.rows_affected() == 1)
}

pub async fn put_line_item(pool: &PgPool, order_id: &ResourceId, item: &Entity) -> Result<(), StorageError> {
    let mut conn = pool.acquire().await?;
    let writes = Writes {
        line_items: vec![(order_id, item)],
        ..Writes::default()
    };
    write(&mut conn, &writes).await?;
    Ok(())
}

pub async fn get_line_item(pool: &PgPool, order_id: &ResourceId, id: &ResourceId) -> Result<Option<Doc>, StorageError> {
    let doc: Option<Json<Doc>> = sqlx::query_scalar("SELECT doc FROM line_items WHERE order_id = $1 AND id = $2")
        .bind(order_id.as_str())
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(doc.map(|d| d.0))
}

pub async fn delete_line_item(pool: &PgPool, order_id: &ResourceId, id: &ResourceId) -> Result<bool, StorageError> {
    let mut conn = pool.acquire().await?;
    let writes = Writes {
        remove_line_items: vec![(order_id, id)],
        ..Writes::default()
    };
    Ok(!write(&mut conn, &writes).await?.is_empty())
}
