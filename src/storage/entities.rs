//! The entity store: Users, Products, Orders and their LineItems as the commerce platform last
//! sent them, read back to hydrate triggers. Writes replace the whole document.

use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::StorageError;
use crate::domain::trigger::Entity;
use crate::domain::ResourceId;

type Doc = Map<String, Value>;

/// The stores keyed by ID alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    Users,
    Products,
}

impl Keyed {
    fn upsert_sql(self) -> &'static str {
        match self {
            Keyed::Users => {
                "INSERT INTO users (id, doc, updated_at)
                 SELECT id, doc, now() FROM unnest($1::text[], $2::jsonb[]) AS t(id, doc)
                 WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.id AND u.doc = t.doc)
                 ON CONFLICT ON CONSTRAINT users_pkey DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at"
            }
            Keyed::Products => {
                "INSERT INTO products (id, doc, updated_at)
                 SELECT id, doc, now() FROM unnest($1::text[], $2::jsonb[]) AS t(id, doc)
                 WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.id = t.id AND p.doc = t.doc)
                 ON CONFLICT ON CONSTRAINT products_pkey DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at"
            }
        }
    }

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

/// Upserts entities, in ID order so that concurrent writers lock rows in the same order.
/// Documents identical to the stored ones are not written at all: a popular product carried by
/// every trigger would otherwise serialise all of them on its row lock.
pub async fn upsert(conn: &mut PgConnection, store: Keyed, entities: &[&Entity]) -> Result<(), sqlx::Error> {
    if entities.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&&Entity> = entities.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted.dedup_by(|a, b| a.id == b.id);
    let ids: Vec<&str> = sorted.iter().map(|e| e.id.as_str()).collect();
    let docs: Vec<Json<&Doc>> = sorted.iter().map(|e| Json(&e.doc)).collect();
    sqlx::query(store.upsert_sql())
        .bind(&ids)
        .bind(&docs)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn fetch(conn: &mut PgConnection, store: Keyed, ids: &[String]) -> Result<Vec<Doc>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let docs: Vec<Json<Doc>> = sqlx::query_scalar(store.select_sql()).bind(ids).fetch_all(conn).await?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}

pub async fn upsert_order(
    conn: &mut PgConnection,
    order: &Entity,
    user_id: Option<&ResourceId>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orders (id, user_id, doc, updated_at)
         SELECT $1, $2, $3, now()
         WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = $1 AND o.doc = $3 AND o.user_id IS NOT DISTINCT FROM $2)
         ON CONFLICT ON CONSTRAINT orders_pkey DO UPDATE
         SET user_id = coalesce(excluded.user_id, orders.user_id), doc = excluded.doc, updated_at = now()",
    )
    .bind(order.id.as_str())
    .bind(user_id.map(ResourceId::as_str))
    .bind(Json(&order.doc))
    .execute(conn)
    .await?;
    Ok(())
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

pub async fn upsert_line_items(
    conn: &mut PgConnection,
    order_id: &ResourceId,
    items: &[&Entity],
) -> Result<(), sqlx::Error> {
    if items.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&&Entity> = items.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted.dedup_by(|a, b| a.id == b.id);
    let ids: Vec<&str> = sorted.iter().map(|e| e.id.as_str()).collect();
    let products: Vec<Option<String>> = sorted
        .iter()
        .map(|e| e.reference("ProductID").map(|p| p.to_string()))
        .collect();
    let docs: Vec<Json<&Doc>> = sorted.iter().map(|e| Json(&e.doc)).collect();
    sqlx::query(
        "INSERT INTO line_items (order_id, id, product_id, doc, updated_at)
         SELECT $1, id, product_id, doc, now() FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS t(id, product_id, doc)
         WHERE NOT EXISTS (SELECT 1 FROM line_items l WHERE l.order_id = $1 AND l.id = t.id AND l.doc = t.doc)
         ON CONFLICT ON CONSTRAINT line_items_pkey DO UPDATE
         SET product_id = excluded.product_id, doc = excluded.doc, updated_at = now()",
    )
    .bind(order_id.as_str())
    .bind(&ids)
    .bind(&products)
    .bind(&docs)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn fetch_line_items(conn: &mut PgConnection, order_id: &ResourceId) -> Result<Vec<Doc>, sqlx::Error> {
    let docs: Vec<Json<Doc>> = sqlx::query_scalar("SELECT doc FROM line_items WHERE order_id = $1 ORDER BY id")
        .bind(order_id.as_str())
        .fetch_all(conn)
        .await?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}

/// Removes a line item, returning what it was.
pub async fn remove_line_item(
    conn: &mut PgConnection,
    order_id: &ResourceId,
    id: &ResourceId,
) -> Result<Option<Doc>, sqlx::Error> {
    let doc: Option<Json<Doc>> =
        sqlx::query_scalar("DELETE FROM line_items WHERE order_id = $1 AND id = $2 RETURNING doc")
            .bind(order_id.as_str())
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(doc.map(|d| d.0))
}

/// Links an anonymous ID to a user (the latest login wins).
pub async fn link_identity(
    conn: &mut PgConnection,
    anonymous_id: &str,
    user_id: &ResourceId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO identities (anonymous_id, user_id, linked_at) VALUES ($1, $2, now())
         ON CONFLICT ON CONSTRAINT identities_pkey DO UPDATE SET user_id = excluded.user_id, linked_at = now()",
    )
    .bind(anonymous_id)
    .bind(user_id.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn user_of_anonymous(conn: &mut PgConnection, anonymous_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM identities WHERE anonymous_id = $1")
        .bind(anonymous_id)
        .fetch_optional(conn)
        .await
}

pub async fn anonymous_of_user(conn: &mut PgConnection, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT anonymous_id FROM identities WHERE user_id = $1 ORDER BY linked_at DESC LIMIT 1")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

// The entity-store API's single-document operations.

pub async fn put_keyed(pool: &PgPool, store: Keyed, entity: &Entity) -> Result<(), StorageError> {
    let mut conn = pool.acquire().await?;
    upsert(&mut conn, store, &[entity]).await?;
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
    upsert_order(&mut conn, order, order.reference("FromUserID").as_ref()).await?;
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
    upsert_line_items(&mut conn, order_id, &[item]).await?;
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
    Ok(remove_line_item(&mut conn, order_id, id).await?.is_some())
}
