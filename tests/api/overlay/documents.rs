//! Documents keyed by ID — products, users, orders — and the user an order belongs to.

use serde_json::{json, Value};
use sqlx::types::Json;
use trackway::domain::trigger::Entity;
use trackway::domain::ResourceId;
use trackway::storage::entities::{Overlay, Writes};

use super::{by_trigger, doc, entity, id, Doc, Twins};

/// A case for a store keyed by ID: its name, the ID, the version stored before (if any) and
/// the versions each trigger writes, in order.
type Case = (&'static str, &'static str, Option<u32>, &'static [&'static [u32]]);

const KEYED_CASES: [Case; 8] = [
    ("replaced", "X1", Some(1), &[&[2]]),
    ("new", "X2", None, &[&[1]]),
    ("written as stored", "X3", Some(1), &[&[1]]),
    ("not written", "X4", Some(1), &[]),
    (
        "two writes of one row by one trigger: the first",
        "X5",
        Some(1),
        &[&[2, 3]],
    ),
    ("written by two triggers: the later", "X6", Some(1), &[&[2], &[3]]),
    (
        "written back as stored by a later trigger",
        "X7",
        Some(1),
        &[&[2], &[1]],
    ),
    (
        "two triggers, two writes each: the later's first",
        "X8",
        None,
        &[&[2, 3], &[4, 5]],
    ),
];

fn version(id: &str, v: u32) -> Value {
    json!({"ID": id, "V": v})
}

/// The documents the cases' triggers write, the k-th trigger writing the k-th versions.
fn keyed_triggers(cases: &[Case]) -> Vec<Vec<Entity>> {
    let triggers = by_trigger(cases, |(_, _, _, t)| t);
    let versions = |((_, id, _, _), written): &(&Case, &&[u32])| -> Vec<Entity> {
        written.iter().map(|v| entity(version(id, *v))).collect()
    };
    triggers
        .iter()
        .map(|steps| steps.iter().flat_map(versions).collect())
        .collect()
}

/// A store of documents keyed by ID, as the writes and the overlay name it.
#[derive(Debug, Clone, Copy)]
enum Keyed {
    Products,
    Users,
    Orders,
}

impl Keyed {
    fn table(self) -> &'static str {
        match self {
            Keyed::Products => "products",
            Keyed::Users => "users",
            Keyed::Orders => "orders",
        }
    }

    /// One trigger's `entities` written to this store.
    fn writes(self, entities: &[Entity]) -> Writes<'_> {
        let entities = entities.iter();
        match self {
            Keyed::Products => Writes {
                products: entities.collect(),
                ..Writes::default()
            },
            Keyed::Users => Writes {
                users: entities.collect(),
                ..Writes::default()
            },
            Keyed::Orders => Writes {
                orders: entities.map(|o| (o, o.reference("FromUserID"))).collect(),
                ..Writes::default()
            },
        }
    }

    /// The document a reader of the batch finds through the overlay, if the writes replace it.
    fn overlay<'e>(self, overlay: &Overlay<'e>, id: &str) -> Option<&'e Doc> {
        match self {
            Keyed::Products => overlay.product(id),
            Keyed::Users => overlay.user(id),
            Keyed::Orders => overlay.order(id),
        }
    }

    async fn stored(self, twins: &Twins, id: &str) -> Option<Doc> {
        let query = format!("SELECT doc FROM {} WHERE id = $1", self.table());
        twins.read::<Json<Doc>>(&query, &[id]).await.map(|d| d.0)
    }
}

/// Runs `cases` on `store`: seeds them, asks the overlay, writes, and compares.
async fn keyed_cases_agree(twins: &Twins, store: Keyed, cases: &[Case]) {
    let table = store.table();
    for (_, id, before, _) in cases {
        if let Some(v) = before {
            let sql = format!("INSERT INTO {table} (id, doc) VALUES ($1, $2::jsonb)");
            twins.seed(&sql, &[id, &version(id, *v).to_string()]).await;
        }
    }
    let triggers = keyed_triggers(cases);
    let sequence: Vec<Writes> = triggers.iter().map(|t| store.writes(t)).collect();

    let mut before = Vec::new();
    for (_, id, _, _) in cases {
        before.push(store.stored(twins, id).await);
    }
    let overlay = twins.write(&sequence).await;

    for ((case, id, _, _), before) in cases.iter().zip(before) {
        let expected = store.overlay(&overlay, id).cloned().or(before);
        let after = store.stored(twins, id).await;
        assert_eq!(
            after, expected,
            "{table}, {case}: the overlay and the statements disagree"
        );
    }
    // The rules all three follow, spelled out.
    for (id, v, rule) in [
        ("X5", 2, "one trigger's first"),
        ("X6", 3, "the later trigger's"),
        ("X8", 4, "the later trigger's first"),
    ] {
        assert_eq!(
            store.stored(twins, id).await,
            Some(doc(version(id, v))),
            "{table}: {rule}"
        );
    }
}

#[tokio::test]
async fn products_users_and_orders_a_batch_finds_are_those_its_write_and_one_by_one_writes_leave() {
    let twins = Twins::spawn().await;
    for store in [Keyed::Products, Keyed::Users, Keyed::Orders] {
        keyed_cases_agree(&twins, store, &KEYED_CASES).await;
    }
}

/// A case of an order's user: its name, the order, the user stored with it and the user each
/// trigger's write of the order names.
type UserCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [Option<&'static str>],
);

const USER: &str = "SELECT user_id FROM orders WHERE id = $1";

#[tokio::test]
async fn an_orders_user_is_the_last_one_a_write_names() {
    let twins = Twins::spawn().await;
    let cases: [UserCase; 4] = [
        ("kept", "PO-kept", Some("u0"), &[None]),
        ("named", "PO-named", None, &[Some("u1")]),
        ("named, then not", "PO-then-not", Some("u0"), &[Some("u1"), None]),
        ("named twice", "PO-twice", None, &[Some("u1"), Some("u2")]),
    ];
    for (_, order, user, _) in &cases {
        let sql = "INSERT INTO orders (id, user_id, doc) VALUES ($1, nullif($2, ''), jsonb_build_object('ID', $1))";
        twins.seed(sql, &[order, user.unwrap_or_default()]).await;
    }
    let triggers: Vec<Vec<(Entity, Option<ResourceId>)>> = by_trigger(&cases, |(_, _, _, t)| t)
        .iter()
        .enumerate()
        .map(|(k, steps)| {
            let written = |((_, order, _, _), user): &(&UserCase, &Option<&str>)| {
                (entity(json!({"ID": order, "Step": k})), user.map(id))
            };
            steps.iter().map(written).collect()
        })
        .collect();
    let sequence: Vec<Writes> = triggers
        .iter()
        .map(|orders| Writes {
            orders: orders.iter().map(|(o, u)| (o, u.clone())).collect(),
            ..Writes::default()
        })
        .collect();
    let mut before = Vec::new();
    for (_, order, _, _) in &cases {
        before.push(twins.read::<Option<String>>(USER, &[order]).await.flatten());
    }
    let overlay = twins.write(&sequence).await;
    for ((case, order, _, _), before) in cases.iter().zip(before) {
        let expected = overlay.order_user(order).map(ResourceId::to_string).or(before);
        let after = twins.read::<Option<String>>(USER, &[order]).await.flatten();
        assert_eq!(after, expected, "{case}: the overlay and the statements disagree");
    }
    for (order, user) in [("PO-kept", "u0"), ("PO-then-not", "u1"), ("PO-twice", "u2")] {
        let after = twins.read::<Option<String>>(USER, &[order]).await.flatten();
        assert_eq!(
            after.as_deref(),
            Some(user),
            "{order}: the last user named, else the stored one"
        );
    }
}
