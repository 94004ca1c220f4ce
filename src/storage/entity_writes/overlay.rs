//! What readers find once entity writes are made one after another, from what they found
//! before: the same rules as the statement's ([`super::Writes::ctes`]), for readers that read
//! first and write after. tests/api/overlay.rs runs both on the same cases against PostgreSQL,
//! and against the same writes made one statement at a time.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{first_of_each, Doc, Writes};
use crate::domain::trigger::Entity;
use crate::domain::ResourceId;

/// A line item's last change.
#[derive(Clone, Copy)]
enum Change<'a> {
    Written(&'a Entity),
    Removed(&'a ResourceId),
}

/// The store as a sequence of [`Writes`] leaves it, key by key: each user's, product's and
/// order's last document, each line item's last change (written or removed), each anonymous
/// ID's last link. Within one `Writes` the statement's rules hold (of two writes of one row the
/// first is kept; a line item both written and removed is only removed); of two applied one
/// after another, the later replaces the earlier.
///
/// A batch of triggers applies each trigger's writes in arrival order, and each trigger reads
/// through the overlay as it stands once its own are applied; the batch's statement writes the
/// final state ([`Overlay::writes`]).
#[derive(Default)]
pub struct Overlay<'a> {
    users: BTreeMap<&'a str, &'a Entity>,
    products: BTreeMap<&'a str, &'a Entity>,
    /// Each order's document and the user it belongs to, when a write named one: an order
    /// written without one keeps the user it had.
    orders: BTreeMap<&'a str, (&'a Entity, Option<ResourceId>)>,
    /// Each order's changed line items by ID, with the order's ID to write them back.
    line_items: BTreeMap<&'a str, (&'a ResourceId, BTreeMap<&'a str, Change<'a>>)>,
    /// Each anonymous ID's user, with the link's place among all the links applied: a user's
    /// latest link is the one with the highest.
    identities: BTreeMap<&'a str, (&'a ResourceId, usize)>,
    links_applied: usize,
}

impl<'a> Overlay<'a> {
    /// The store as `writes` alone leave it.
    pub fn of(writes: &Writes<'a>) -> Overlay<'a> {
        let mut overlay = Overlay::default();
        overlay.apply(writes);
        overlay
    }

    /// Applies `writes` after those applied before.
    pub fn apply(&mut self, writes: &Writes<'a>) {
        for user in first_of_each(&writes.users, |u| &u.id) {
            self.users.insert(user.id.as_str(), user);
        }
        for product in first_of_each(&writes.products, |p| &p.id) {
            self.products.insert(product.id.as_str(), product);
        }
        for (order, user) in first_of_each(&writes.orders, |(o, _)| &o.id) {
            let user = user.or_else(|| self.orders.get(order.id.as_str()).and_then(|(_, u)| u.clone()));
            self.orders.insert(order.id.as_str(), (order, user));
        }
        let written = writes.line_items_written().into_iter();
        let changes = written
            .map(|(order, item)| (order, item.id.as_str(), Change::Written(item)))
            .chain(
                writes
                    .remove_line_items
                    .iter()
                    .map(|&(order, id)| (order, id.as_str(), Change::Removed(id))),
            );
        for (order, id, change) in changes {
            let (_, items) = self
                .line_items
                .entry(order.as_str())
                .or_insert((order, BTreeMap::new()));
            items.insert(id, change);
        }
        for (anonymous, user, _) in writes.links_in_order() {
            self.identities.insert(anonymous, (user, self.links_applied));
            self.links_applied += 1;
        }
    }

    /// The final state, one write per row: what a single statement makes so that the store
    /// ends as these writes, made one after another, leave it.
    pub fn writes(&self) -> Writes<'a> {
        let mut links: Vec<_> = self.identities.iter().map(|(a, (u, n))| (*a, *u, *n)).collect();
        links.sort_by_key(|(_, _, n)| *n);
        let (mut line_items, mut remove_line_items) = (Vec::new(), Vec::new());
        for (order, items) in self.line_items.values() {
            for change in items.values() {
                match *change {
                    Change::Written(item) => line_items.push((*order, item)),
                    Change::Removed(id) => remove_line_items.push((*order, id)),
                }
            }
        }
        Writes {
            users: self.users.values().copied().collect(),
            products: self.products.values().copied().collect(),
            orders: self.orders.values().map(|(o, u)| (*o, u.clone())).collect(),
            line_items,
            identities: links.into_iter().map(|(a, u, _)| (a, u)).collect(),
            remove_line_items,
        }
    }

    /// The order's document, if the writes replace it.
    pub fn order(&self, id: &str) -> Option<&'a Doc> {
        self.orders.get(id).map(|(order, _)| &order.doc)
    }

    /// The user the writes give the order, if they name one.
    pub fn order_user(&self, id: &str) -> Option<&ResourceId> {
        self.orders.get(id).and_then(|(_, user)| user.as_ref())
    }

    /// The order's line items, ordered by ID, given those it had (`stored`). Applying the
    /// overlay again to what it returned changes nothing.
    pub fn line_items_of(&self, order_id: &str, stored: Vec<Doc>) -> Vec<Doc> {
        let changes = self.line_items.get(order_id).map(|(_, changes)| changes);
        let changed = |id: &str| changes.is_some_and(|c| c.contains_key(id));
        let written = changes.into_iter().flatten().filter_map(|(id, change)| match change {
            Change::Written(item) => Some((id.to_string(), item.doc.clone())),
            Change::Removed(_) => None,
        });
        let mut items: Vec<(String, Doc)> = stored
            .into_iter()
            .filter_map(|doc| Some((doc.get("ID")?.as_str()?.to_owned(), doc)))
            .filter(|(id, _)| !changed(id))
            .chain(written)
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.into_iter().map(|(_, doc)| doc).collect()
    }

    /// The `ProductID`s of the order's line items the writes leave written.
    pub fn product_ids_written_on(&self, order_id: &str) -> Vec<&'a str> {
        let changes = self.line_items.get(order_id).map(|(_, changes)| changes);
        changes
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter_map(|change| match change {
                Change::Written(item) => item.doc.get("ProductID").and_then(Value::as_str),
                Change::Removed(_) => None,
            })
            .collect()
    }

    /// The product's document, if the writes replace it.
    pub fn product(&self, id: &str) -> Option<&'a Doc> {
        self.products.get(id).map(|p| &p.doc)
    }

    /// The user's document, if the writes replace it.
    pub fn user(&self, id: &str) -> Option<&'a Doc> {
        self.users.get(id).map(|u| &u.doc)
    }

    /// The user the writes last linked the anonymous ID to.
    pub fn linked_user(&self, anonymous_id: &str) -> Option<&'a ResourceId> {
        self.identities.get(anonymous_id).map(|(user, _)| *user)
    }

    /// The anonymous ID the writes last linked to the user, if they leave one linked to it.
    pub fn linked_anonymous_id(&self, user_id: &str) -> Option<&'a str> {
        self.identities
            .iter()
            .filter(|(_, (user, _))| user.as_str() == user_id)
            .max_by_key(|(_, (_, n))| *n)
            .map(|(anonymous, _)| *anonymous)
    }

    /// The anonymous IDs the writes link, to a new user or again to the same one: what a
    /// reader knew of them is replaced.
    pub fn linked_anonymous_ids(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.identities.keys().copied()
    }
}
