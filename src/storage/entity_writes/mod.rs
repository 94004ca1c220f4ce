//! Entity writes made together in one statement: the documents one trigger carries, or one
//! document from the entity-store API ([`Writes`]); and the store as several of them, applied
//! one after another, leaves it ([`Overlay`]). A batch of triggers reads through the overlay —
//! each trigger sees the writes of those before it and its own, never a later one's — and its
//! statement writes the overlay's final state, one row per key ([`Overlay::writes`]), so that
//! the store ends as accepting the triggers one by one would have left it.

mod overlay;
mod upserts;

use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::PgConnection;

use super::params::Params;
use crate::domain::trigger::Entity;
use crate::domain::ResourceId;

pub use overlay::Overlay;

type Doc = Map<String, Value>;

/// Entity writes made together, in one statement: a trigger's carried entities, one document
/// from the entity-store API, or an [`Overlay`]'s final state.
#[derive(Default)]
pub struct Writes<'a> {
    pub users: Vec<&'a Entity>,
    pub products: Vec<&'a Entity>,
    /// Each order with the user it belongs to, when known.
    pub orders: Vec<(&'a Entity, Option<ResourceId>)>,
    /// Line items with their order's ID.
    pub line_items: Vec<(&'a ResourceId, &'a Entity)>,
    /// (anonymous ID, user ID) links, in the order they were made: of one user's links, the
    /// last is its latest.
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
    /// written and removed is only removed. Of two writes of the same row, the first is kept
    /// (an [`Overlay`]'s final state has one of each).
    ///
    /// The text depends only on the order of the binds, which is fixed, never on the rows: it
    /// is the same for every batch, so sqlx's per-connection cache of prepared statements finds
    /// it. It is formatted anew for each statement (microseconds, against a round trip), so that
    /// each placeholder comes from the bind it stands for and the two cannot drift apart.
    pub(crate) fn ctes(&self, params: &mut Params) -> Result<String, sqlx::Error> {
        let mut links = self.links_in_order();
        links.sort_by_key(|(anonymous, _, _)| *anonymous);
        let items = [
            upserts::keyed(params, "users", &first_of_each(&self.users, |u| &u.id))?,
            upserts::keyed(params, "products", &first_of_each(&self.products, |p| &p.id))?,
            upserts::orders(params, &first_of_each(&self.orders, |(o, _)| &o.id))?,
            upserts::line_items(params, &self.line_items_written())?,
            upserts::identities(params, &links)?,
            upserts::removed_line_items(params, &self.remove_line_items)?,
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

    /// The links to make, the first of each anonymous ID, in the order they were made, each
    /// with how many microseconds before the statement's time it is dated: a user's last link
    /// is dated then and each earlier one a microsecond before the next, so that its latest
    /// link — the one a reader of the user finds — is the last, as making them one by one would
    /// leave it.
    fn links_in_order(&self) -> Vec<(&'a str, &'a ResourceId, i32)> {
        let mut links: Vec<(&'a str, &'a ResourceId)> = Vec::new();
        for &(anonymous, user) in &self.identities {
            if links.iter().all(|(linked, _)| *linked != anonymous) {
                links.push((anonymous, user));
            }
        }
        links
            .iter()
            .enumerate()
            .map(|(i, &(anonymous, user))| {
                let later = links[i + 1..].iter().filter(|(_, other)| *other == user).count();
                (anonymous, user, i32::try_from(later).unwrap_or(i32::MAX))
            })
            .collect()
    }
}

/// `rows` in key order, the first written of each key.
fn first_of_each<R: Clone>(rows: &[R], key: impl Fn(&R) -> &ResourceId) -> Vec<R> {
    let mut sorted = rows.to_vec();
    sorted.sort_by(|a, b| key(a).cmp(key(b)));
    sorted.dedup_by(|a, b| key(a) == key(b));
    sorted
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
mod tests;
