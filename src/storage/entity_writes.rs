//! Entity writes made together in one statement: the documents a batch of triggers carries, or
//! one document from the entity-store API, upserted in key order; and the same writes applied
//! to what a batch read ([`Writes::order`], [`Writes::line_items_of`]…), so that each trigger of
//! the batch sees the others' writes without reading again.

use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::PgConnection;

use super::params::{column, Params};
use crate::domain::trigger::Entity;
use crate::domain::ResourceId;

type Doc = Map<String, Value>;

/// Entity writes made together, in one statement: a trigger's carried entities, or one
/// document from the entity-store API.
#[derive(Default)]
pub struct Writes<'a> {
    pub users: Vec<&'a Entity>,
    pub products: Vec<&'a Entity>,
    /// Each order with the user it belongs to, when known.
    pub orders: Vec<(&'a Entity, Option<ResourceId>)>,
    /// Line items with their order's ID.
    pub line_items: Vec<(&'a ResourceId, &'a Entity)>,
    /// (anonymous ID, user ID) links: the latest login wins.
    pub identities: Vec<(&'a str, &'a ResourceId)>,
    /// (order ID, line item ID) to delete; their stored documents are returned.
    pub remove_line_items: Vec<(&'a ResourceId, &'a ResourceId)>,
}

/// A line item [`write`] removed, with its stored document.
pub struct Removed {
    pub order_id: String,
    pub id: String,
    pub doc: Doc,
}

impl<'a> Writes<'a> {
    /// The writes as the items of a WITH clause, their values bound to `params`; the last,
    /// `line_items_removed`, returns the line items removed with their stored documents. A
    /// statement can go on with its own items and parameters after them.
    ///
    /// Rows are upserted in key order, so that concurrent writers lock them in the same order.
    /// Documents identical to the stored ones are not written at all: a popular product carried
    /// by every trigger would otherwise serialise all of them on its row lock. A line item both
    /// written and removed is only removed. Of two writes of the same row, the first is kept.
    ///
    /// The text depends only on the order of the binds, which is fixed, never on the rows: it
    /// is the same for every batch, so sqlx's per-connection cache of prepared statements finds
    /// it. It is formatted anew for each statement (microseconds, against a round trip), so that
    /// each placeholder comes from the bind it stands for and the two cannot drift apart.
    pub(crate) fn ctes(&self, params: &mut Params) -> Result<String, sqlx::Error> {
        let mut links = self.identities.clone();
        links.sort_by_key(|(anonymous, _)| *anonymous);
        links.dedup_by_key(|(anonymous, _)| *anonymous);
        let items = [
            upsert_keyed(params, "users", &first_of_each(&self.users))?,
            upsert_keyed(params, "products", &first_of_each(&self.products))?,
            upsert_orders(params, &self.orders)?,
            upsert_line_items(params, &self.line_items_written())?,
            link_identities(params, &links)?,
            remove_line_items(params, &self.remove_line_items)?,
        ];
        Ok(items.join(",\n"))
    }

    /// The line items written, in key order, the first of each key, none that is removed.
    fn line_items_written(&self) -> Vec<(&'a ResourceId, &'a Entity)> {
        let removed = &self.remove_line_items;
        let mut line_items: Vec<_> = self
            .line_items
            .iter()
            .copied()
            .filter(|(order, item)| !removed.contains(&(*order, &item.id)))
            .collect();
        line_items.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        line_items.dedup_by(|a, b| (a.0, &a.1.id) == (b.0, &b.1.id));
        line_items
    }

    // What a reader finds once these writes are made, from what it found before: the same
    // rules as the statement's, for readers that read first and write after. tests/api/overlay.rs
    // runs both on the same cases against PostgreSQL.

    /// The order's document, if these writes replace it.
    pub fn order(&self, id: &str) -> Option<&'a Doc> {
        self.orders
            .iter()
            .find(|(o, _)| o.id.as_str() == id)
            .map(|(o, _)| &o.doc)
    }

    /// The order's line items, ordered by ID, given those it had (`stored`).
    pub fn line_items_of(&self, order_id: &str, stored: Vec<Doc>) -> Vec<Doc> {
        let written: Vec<&Entity> = self
            .line_items_written()
            .into_iter()
            .filter(|(order, _)| order.as_str() == order_id)
            .map(|(_, item)| item)
            .collect();
        let replaced = |id: &str| {
            written.iter().any(|item| item.id.as_str() == id)
                || self
                    .remove_line_items
                    .iter()
                    .any(|(order, item)| order.as_str() == order_id && item.as_str() == id)
        };
        let mut items: Vec<(String, Doc)> = stored
            .into_iter()
            .filter_map(|doc| Some((doc.get("ID")?.as_str()?.to_owned(), doc)))
            .filter(|(id, _)| !replaced(id))
            .chain(written.iter().map(|item| (item.id.to_string(), item.doc.clone())))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.into_iter().map(|(_, doc)| doc).collect()
    }

    /// The product's document, if these writes replace it.
    pub fn product(&self, id: &str) -> Option<&'a Doc> {
        self.products.iter().find(|p| p.id.as_str() == id).map(|p| &p.doc)
    }

    /// The user's document, if these writes replace it.
    pub fn user(&self, id: &str) -> Option<&'a Doc> {
        self.users.iter().find(|u| u.id.as_str() == id).map(|u| &u.doc)
    }

    /// An anonymous ID these writes link to the user: its latest link, then. Of two links of
    /// one anonymous ID, the first is kept.
    pub fn linked_anonymous_id(&self, user_id: &str) -> Option<&'a str> {
        let links = &self.identities;
        links
            .iter()
            .enumerate()
            .find(|(i, (anonymous, user))| {
                user.as_str() == user_id && !links[..*i].iter().any(|(earlier, _)| earlier == anonymous)
            })
            .map(|(_, (anonymous, _))| *anonymous)
    }

    /// The anonymous IDs these writes link, to a new user or again to the same one.
    pub fn linked_anonymous_ids(&self) -> Vec<&'a str> {
        self.identities.iter().map(|(anonymous, _)| *anonymous).collect()
    }
}

/// Entities in key order, the first written of each key.
fn first_of_each<'e>(entities: &[&'e Entity]) -> Vec<&'e Entity> {
    let mut sorted = entities.to_vec();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted.dedup_by(|a, b| a.id == b.id);
    sorted
}

// Each item of [`Writes::ctes`], binding its own columns.

/// Documents keyed by ID alone: `table` is `users` or `products`.
fn upsert_keyed(params: &mut Params, table: &str, entities: &[&Entity]) -> Result<String, sqlx::Error> {
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
fn upsert_orders(params: &mut Params, orders: &[(&Entity, Option<ResourceId>)]) -> Result<String, sqlx::Error> {
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
fn upsert_line_items(params: &mut Params, items: &[(&ResourceId, &Entity)]) -> Result<String, sqlx::Error> {
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

/// (anonymous ID, user ID) links, one per anonymous ID.
fn link_identities(params: &mut Params, links: &[(&str, &ResourceId)]) -> Result<String, sqlx::Error> {
    let anonymous_ids = params.bind(column(links, |(anonymous, _)| *anonymous))?;
    let user_ids = params.bind(column(links, |(_, user)| user.as_str()))?;
    Ok(format!(
        "\
identity_linked AS (
    INSERT INTO identities (anonymous_id, user_id, linked_at)
    SELECT anonymous_id, user_id, now()
    FROM unnest({anonymous_ids}::text[], {user_ids}::text[]) AS t(anonymous_id, user_id)
    ORDER BY anonymous_id
    ON CONFLICT ON CONSTRAINT identities_pkey DO UPDATE SET user_id = excluded.user_id, linked_at = now())"
    ))
}

/// (order ID, line item ID) to delete, returned with their stored documents.
fn remove_line_items(params: &mut Params, removed: &[(&ResourceId, &ResourceId)]) -> Result<String, sqlx::Error> {
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

/// Makes `writes` in one statement (one round trip); returns the removed line items with their
/// stored documents.
pub async fn write(conn: &mut PgConnection, writes: &Writes<'_>) -> Result<Vec<Removed>, sqlx::Error> {
    let mut params = Params::default();
    let sql = format!(
        "WITH\n{}\nSELECT order_id, id, doc FROM line_items_removed",
        writes.ctes(&mut params)?
    );
    let removed: Vec<(String, String, Json<Doc>)> = sqlx::query_as_with(&sql, params.into_arguments())
        .fetch_all(conn)
        .await?;
    Ok(removed
        .into_iter()
        .map(|(order_id, id, doc)| Removed {
            order_id,
            id,
            doc: doc.0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id(value: &str) -> ResourceId {
        ResourceId::parse("ID", value).unwrap()
    }

    fn doc(value: Value) -> Doc {
        value.as_object().unwrap().clone()
    }

    fn entity(value: Value) -> Entity {
        let doc = doc(value);
        Entity {
            id: id(doc["ID"].as_str().unwrap()),
            doc,
        }
    }

    fn ids(docs: &[Doc]) -> Vec<&str> {
        docs.iter().map(|d| d["ID"].as_str().unwrap()).collect()
    }

    #[test]
    fn line_items_after_the_writes_replace_add_and_remove_by_id_in_id_order() {
        let (po1, po2) = (id("PO1"), id("PO2"));
        let (l2_new, l2_also, l4, x1, l1) = (
            entity(json!({"ID": "L2", "Quantity": 5})),
            entity(json!({"ID": "L2", "Quantity": 9})),
            entity(json!({"ID": "L4"})),
            entity(json!({"ID": "X1"})),
            id("L1"),
        );
        let writes = Writes {
            line_items: vec![(&po1, &l4), (&po1, &l2_new), (&po1, &l2_also), (&po2, &x1)],
            remove_line_items: vec![(&po1, &l1)],
            ..Writes::default()
        };
        let stored = vec![
            doc(json!({"ID": "L1"})),
            doc(json!({"ID": "L2", "Quantity": 1})),
            doc(json!({"ID": "L3"})),
        ];
        let after = writes.line_items_of("PO1", stored);
        assert_eq!(
            ids(&after),
            ["L2", "L3", "L4"],
            "L1 removed, L4 added, the other order's kept out"
        );
        assert_eq!(after[0]["Quantity"], 5, "of two writes of a row the first is kept");
    }

    #[test]
    fn a_line_item_both_written_and_removed_is_only_removed() {
        let (po1, l1) = (id("PO1"), id("L1"));
        let written = entity(json!({"ID": "L1", "Quantity": 2}));
        let writes = Writes {
            line_items: vec![(&po1, &written)],
            remove_line_items: vec![(&po1, &l1)],
            ..Writes::default()
        };
        assert!(writes.line_items_of("PO1", vec![doc(json!({"ID": "L1"}))]).is_empty());
        assert!(writes.line_items_of("PO1", Vec::new()).is_empty());
    }

    #[test]
    fn documents_and_links_written_are_what_a_reader_finds() {
        let (user, product, order) = (
            entity(json!({"ID": "u1", "Email": "new@example.com"})),
            entity(json!({"ID": "P9", "Name": "Nine"})),
            entity(json!({"ID": "PO1", "Total": 3})),
        );
        let (u1, u2) = (id("u1"), id("u2"));
        let writes = Writes {
            users: vec![&user],
            products: vec![&product],
            orders: vec![(&order, None)],
            identities: vec![("beacon-1", &u1), ("beacon-2", &u2)],
            ..Writes::default()
        };
        assert_eq!(writes.user("u1"), Some(&user.doc));
        assert_eq!(writes.user("u2"), None);
        assert_eq!(writes.product("P9"), Some(&product.doc));
        assert_eq!(writes.order("PO1"), Some(&order.doc));
        assert_eq!(writes.order("PO2"), None);
        assert_eq!(writes.linked_anonymous_id("u2"), Some("beacon-2"));
        assert_eq!(writes.linked_anonymous_id("u3"), None);
        assert_eq!(writes.linked_anonymous_ids(), ["beacon-1", "beacon-2"]);
    }
}
