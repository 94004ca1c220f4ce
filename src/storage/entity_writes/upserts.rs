//! The items of [`super::Writes::ctes`], one per table, each binding its own columns. Each
//! takes at most one row per key: an `ON CONFLICT DO UPDATE` cannot touch a row twice.

use sqlx::types::Json;

use crate::domain::trigger::Entity;
use crate::domain::ResourceId;
use crate::storage::params::{column, Params};

/// Documents keyed by ID alone: `table` is `users` or `products`.
pub(super) fn keyed(params: &mut Params, table: &str, entities: &[&Entity]) -> Result<String, sqlx::Error> {
    let ids = params.bind(column(entities, |e| e.id.as_str()))?;
    let docs = params.bind(column(entities, |e| Json(&e.doc)))?;
    Ok(format!(
        "\
{table}_written AS (
    INSERT INTO {table} (id, doc, updated_at)
    SELECT id, doc, now() FROM unnest({ids}::text[], {docs}::jsonb[]) AS t(id, doc)
    WHERE NOT EXISTS (SELECT 1 FROM {table} s WHERE s.id = t.id AND s.doc = t.doc)
    ORDER BY id
    ON CONFLICT ON CONSTRAINT {table}_pkey DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at)"
    ))
}

/// Orders with the user each belongs to, when known: an order written without one keeps the
/// user it had.
pub(super) fn orders(params: &mut Params, orders: &[(&Entity, Option<ResourceId>)]) -> Result<String, sqlx::Error> {
    let ids = params.bind(column(orders, |(order, _)| order.id.as_str()))?;
    let user_ids = params.bind(column(orders, |(_, user)| user.as_ref().map(ResourceId::as_str)))?;
    let docs = params.bind(column(orders, |(order, _)| Json(&order.doc)))?;
    Ok(format!(
        "\
orders_written AS (
    INSERT INTO orders (id, user_id, doc, updated_at)
    SELECT id, user_id, doc, now()
    FROM unnest({ids}::text[], {user_ids}::text[], {docs}::jsonb[]) AS t(id, user_id, doc)
    WHERE NOT EXISTS (SELECT 1 FROM orders s
                      WHERE s.id = t.id AND s.doc = t.doc AND s.user_id IS NOT DISTINCT FROM t.user_id)
    ORDER BY id
    ON CONFLICT ON CONSTRAINT orders_pkey DO UPDATE
    SET user_id = coalesce(excluded.user_id, orders.user_id), doc = excluded.doc, updated_at = now())"
    ))
}

/// Line items with their order's ID; `product_id` is the document's `ProductID`.
pub(super) fn line_items(params: &mut Params, items: &[(&ResourceId, &Entity)]) -> Result<String, sqlx::Error> {
    let order_ids = params.bind(column(items, |(order, _)| order.as_str()))?;
    let ids = params.bind(column(items, |(_, item)| item.id.as_str()))?;
    let product_ids = params.bind(column(items, |(_, item)| {
        item.reference("ProductID").map(|p| p.to_string())
    }))?;
    let docs = params.bind(column(items, |(_, item)| Json(&item.doc)))?;
    Ok(format!(
        "\
line_items_written AS (
    INSERT INTO line_items (order_id, id, product_id, doc, updated_at)
    SELECT order_id, id, product_id, doc, now()
    FROM unnest({order_ids}::text[], {ids}::text[], {product_ids}::text[], {docs}::jsonb[])
         AS t(order_id, id, product_id, doc)
    WHERE NOT EXISTS (SELECT 1 FROM line_items s WHERE s.order_id = t.order_id AND s.id = t.id AND s.doc = t.doc)
    ORDER BY order_id, id
    ON CONFLICT ON CONSTRAINT line_items_pkey DO UPDATE
    SET product_id = excluded.product_id, doc = excluded.doc, updated_at = now())"
    ))
}

/// (anonymous ID, user ID) links, one per anonymous ID, each dated the given number of
/// microseconds before the statement's time.
pub(super) fn identities(params: &mut Params, links: &[(&str, &ResourceId, i32)]) -> Result<String, sqlx::Error> {
    let anonymous_ids = params.bind(column(links, |(anonymous, _, _)| *anonymous))?;
    let user_ids = params.bind(column(links, |(_, user, _)| user.as_str()))?;
    let earlier = params.bind(column(links, |(_, _, earlier)| *earlier))?;
    Ok(format!(
        "\
identity_linked AS (
    INSERT INTO identities (anonymous_id, user_id, linked_at)
    SELECT anonymous_id, user_id, now() - earlier * interval '1 microsecond'
    FROM unnest({anonymous_ids}::text[], {user_ids}::text[], {earlier}::int[]) AS t(anonymous_id, user_id, earlier)
    ORDER BY anonymous_id
    ON CONFLICT ON CONSTRAINT identities_pkey DO UPDATE SET user_id = excluded.user_id, linked_at = excluded.linked_at)"
    ))
}

/// (order ID, line item ID) to delete, returned with their stored documents.
pub(super) fn removed_line_items(
    params: &mut Params,
    removed: &[(&ResourceId, &ResourceId)],
) -> Result<String, sqlx::Error> {
    let order_ids = params.bind(column(removed, |(order, _)| order.as_str()))?;
    let ids = params.bind(column(removed, |(_, item)| item.as_str()))?;
    Ok(format!(
        "\
line_items_removed AS (
    DELETE FROM line_items l USING unnest({order_ids}::text[], {ids}::text[]) AS t(order_id, id)
    WHERE l.order_id = t.order_id AND l.id = t.id
    RETURNING l.order_id, l.id, l.doc)"
    ))
}
