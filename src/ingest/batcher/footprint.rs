//! Which waiting triggers may join the batch being formed. A batch applies its triggers in
//! arrival order ([`crate::ingest::accept`]), so triggers about the same shopper, or carrying
//! different documents of one product, may share it; what no trigger may do is go ahead of what
//! it must follow: a batch in flight about one of its shoppers (the next batch must read what it
//! writes), a batch in flight writing another document of one of its products (the later
//! document must be the one left), an earlier trigger left waiting that shares one of its keys,
//! or an earlier trigger of the batch with its idempotency key (the second must find the
//! first's acceptance, so it goes in a later batch).

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::domain::trigger::Trigger;
use crate::ingest::accept::shoppers;

/// What a trigger touches that orders it after other triggers.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Footprint {
    /// Its orders, users and anonymous ID ([`shoppers`]).
    shoppers: Vec<String>,
    /// Its idempotency key, with its ClientID.
    key: Option<String>,
    /// The products it writes, each with a hash of the document written (the first it carries
    /// of each, as a write keeps).
    products: Vec<(String, u64)>,
}

impl Footprint {
    pub(super) fn of(trigger: &Trigger) -> Footprint {
        let mut products: Vec<(String, u64)> = Vec::new();
        for product in &trigger.products {
            if products.iter().all(|(id, _)| id != product.id.as_str()) {
                let mut hasher = DefaultHasher::new();
                serde_json::to_string(&product.doc)
                    .unwrap_or_default()
                    .hash(&mut hasher);
                products.push((product.id.to_string(), hasher.finish()));
            }
        }
        Footprint {
            shoppers: shoppers(trigger),
            key: trigger
                .idempotency_key
                .as_ref()
                .map(|key| format!("key/{}/{key}", trigger.client_id)),
            products,
        }
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.shoppers.iter().chain(&self.key).map(String::as_str)
    }
}

/// The keys of the batches in flight: a trigger sharing one waits until they committed.
#[derive(Default)]
pub(super) struct Held {
    /// Their shoppers and idempotency keys.
    keys: HashSet<String>,
    /// Each product they write: the hash of the document they leave, and how many of their
    /// triggers write it. A batch formed while a product is in flight writes only the document
    /// in flight, so every batch writing it leaves that one.
    products: HashMap<String, (u64, usize)>,
}

impl Held {
    /// Holds the keys of a trigger joining a batch; triggers are held in arrival order, so a
    /// product's document is the batch's last.
    pub(super) fn hold(&mut self, footprint: &Footprint) {
        self.keys.extend(footprint.keys().map(str::to_owned));
        for (id, hash) in &footprint.products {
            let held = self.products.entry(id.clone()).or_insert((*hash, 0));
            *held = (*hash, held.1 + 1);
        }
    }

    pub(super) fn release(&mut self, footprint: &Footprint) {
        for key in footprint.keys() {
            self.keys.remove(key);
        }
        for (id, _) in &footprint.products {
            if let Some((_, n)) = self.products.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    self.products.remove(id);
                }
            }
        }
    }
}

/// Which of `waiting` (in arrival order) join the batch being formed, at most `max`.
pub(super) fn joining<'a>(held: &'a Held, waiting: impl IntoIterator<Item = &'a Footprint>, max: usize) -> Vec<bool> {
    let mut taken = Taken::from(held);
    let mut joined = 0;
    waiting
        .into_iter()
        .map(|footprint| {
            let joins = joined < max && taken.admits(footprint);
            joined += usize::from(joins);
            taken.take(footprint, joins);
            joins
        })
        .collect()
}

/// The keys taken while a batch is formed: by batches in flight, by the triggers left waiting
/// (so that nothing overtakes them), and the idempotency keys of those joining it.
struct Taken<'a> {
    /// Shoppers and idempotency keys no trigger joining may share.
    barred: HashSet<&'a str>,
    /// A product's document in flight, or None when a trigger left waiting writes it: a trigger
    /// joining may write only that document, or none.
    products: HashMap<&'a str, Option<u64>>,
}

impl<'a> Taken<'a> {
    fn from(held: &'a Held) -> Taken<'a> {
        Taken {
            barred: held.keys.iter().map(String::as_str).collect(),
            products: held
                .products
                .iter()
                .map(|(id, (hash, _))| (id.as_str(), Some(*hash)))
                .collect(),
        }
    }

    fn admits(&self, footprint: &Footprint) -> bool {
        footprint.keys().all(|k| !self.barred.contains(k))
            && footprint
                .products
                .iter()
                .all(|(id, hash)| self.products.get(id.as_str()).is_none_or(|taken| *taken == Some(*hash)))
    }

    fn take(&mut self, footprint: &'a Footprint, joined: bool) {
        if joined {
            self.barred.extend(footprint.key.as_deref());
            return;
        }
        self.barred.extend(footprint.keys());
        for (id, _) in &footprint.products {
            self.products.insert(id.as_str(), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::trigger::TriggerDoc;

    fn footprint(trigger: serde_json::Value) -> Footprint {
        let doc: TriggerDoc = serde_json::from_value(trigger).unwrap();
        Footprint::of(&Trigger::parse(&doc).unwrap())
    }

    fn added(order: &str, line: &str) -> Footprint {
        footprint(
            json!({"EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "hot",
                         "OrderID": order, "LineItem": {"ID": line}}),
        )
    }

    fn viewed(user: &str, inventory: u32) -> Footprint {
        footprint(
            json!({"EventType": "ProductViewed", "ClientID": "storefront", "UserID": user,
                         "Products": [{"ID": "flash", "xp": {"Inventory": inventory}}]}),
        )
    }

    fn keyed(key: &str, user: &str) -> Footprint {
        footprint(
            json!({"ID": key, "EventType": "ProductViewed", "ClientID": "storefront",
                         "UserID": user, "ProductID": "P1"}),
        )
    }

    #[test]
    fn triggers_about_one_shopper_join_one_batch_up_to_its_size() {
        let waiting = [
            added("PO1", "A"),
            added("PO1", "B"),
            added("PO2", "A"),
            added("PO1", "C"),
        ];
        assert_eq!(joining(&Held::default(), &waiting, 10), [true, true, true, true]);
        assert_eq!(joining(&Held::default(), &waiting, 2), [true, true, false, false]);
    }

    #[test]
    fn a_shopper_in_flight_holds_back_its_triggers_and_those_sharing_a_key_with_them() {
        let mut held = Held::default();
        held.hold(&added("PO1", "A"));
        let waiting = [
            added("PO2", "B"),
            footprint(
                json!({"EventType": "LineItemAdded", "ClientID": "storefront", "UserID": "other",
                             "OrderID": "PO2", "LineItem": {"ID": "C"}}),
            ),
            viewed("third", 1),
        ];
        // The first is about user hot, in flight; the second shares order PO2 with it.
        assert_eq!(joining(&held, &waiting, 10), [false, false, true]);
        held.release(&added("PO1", "A"));
        assert_eq!(joining(&held, &waiting, 10), [true, true, true]);
    }

    #[test]
    fn a_product_in_flight_admits_only_its_own_document_and_never_past_a_waiting_one() {
        let waiting = [viewed("a", 10), viewed("b", 9), viewed("c", 8)];
        assert_eq!(joining(&Held::default(), &waiting, 10), [true, true, true]);
        let mut held = Held::default();
        for footprint in &waiting {
            held.hold(footprint);
        }
        // The batch in flight leaves inventory 8.
        let next = [viewed("d", 8), viewed("e", 7), viewed("f", 8)];
        assert_eq!(joining(&held, &next, 10), [true, false, false]);
    }

    #[test]
    fn one_idempotency_key_joins_a_batch_once() {
        let waiting = [keyed("k1", "a"), keyed("k1", "b"), keyed("k2", "b"), keyed("k3", "c")];
        // The repeat waits, and so does the next trigger about its shopper.
        assert_eq!(joining(&Held::default(), &waiting, 10), [true, false, false, true]);
        let mut held = Held::default();
        held.hold(&waiting[0]);
        assert_eq!(joining(&held, &waiting[1..], 10), [false, false, true]);
    }
}
