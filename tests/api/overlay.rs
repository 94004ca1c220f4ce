//! The overlay against the statement it stands in for. A batch of triggers reads the store
//! once, before it writes, and each trigger finds the batch's writes through the overlay
//! (`Writes::line_items_of`, `order`, `product`, `user`, `linked_anonymous_id`), which
//! re-states in Rust what the SQL upserts do. Here both run on the same cases: rows are seeded,
//! the overlay answers from the rows as stored before, the real `write` runs, and the rows read
//! back must be what the overlay said.

use serde_json::{json, Map, Value};
use sqlx::types::Json;
use sqlx::PgPool;
use trackway::domain::trigger::Entity;
use trackway::domain::ResourceId;
use trackway::storage::entities::{write, Writes};

use crate::helpers::TestApp;

type Doc = Map<String, Value>;

fn id(value: &str) -> ResourceId {
    ResourceId::parse("ID", value).unwrap()
}

fn doc(value: Value) -> Doc {
    value.as_object().cloned().expect("a JSON object")
}

/// An entity whose document holds its ID.
fn entity(value: Value) -> Entity {
    let doc = doc(value);
    Entity {
        id: id(doc["ID"].as_str().expect("an ID")),
        doc,
    }
}

/// Makes `writes` for real, in one statement.
async fn write_all(pool: &PgPool, writes: &Writes<'_>) {
    let mut conn = pool.acquire().await.unwrap();
    write(&mut conn, writes).await.expect("the writes are made");
}

async fn seed_line_item(pool: &PgPool, order_id: &str, item: Value) {
    sqlx::query("INSERT INTO line_items (order_id, id, doc) VALUES ($1, $2->>'ID', $2)")
        .bind(order_id)
        .bind(Json(item))
        .execute(pool)
        .await
        .unwrap();
}

async fn stored_line_items(pool: &PgPool, order_id: &str) -> Vec<Doc> {
    let docs: Vec<Json<Doc>> = sqlx::query_scalar("SELECT doc FROM line_items WHERE order_id = $1 ORDER BY id")
        .bind(order_id)
        .fetch_all(pool)
        .await
        .unwrap();
    docs.into_iter().map(|d| d.0).collect()
}

/// Seeds a document into `table` (`users`, `products` or `orders`).
async fn seed_doc(pool: &PgPool, table: &str, value: Value) {
    sqlx::query(&format!("INSERT INTO {table} (id, doc) VALUES ($1->>'ID', $1)"))
        .bind(Json(value))
        .execute(pool)
        .await
        .unwrap();
}

async fn stored_doc(pool: &PgPool, table: &str, id: &str) -> Option<Doc> {
    let doc: Option<Json<Doc>> = sqlx::query_scalar(&format!("SELECT doc FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap();
    doc.map(|d| d.0)
}

#[tokio::test]
async fn line_items_a_batch_finds_are_those_its_write_leaves() {
    let app = TestApp::spawn().await;
    let quantity = |line: &str, n: u32| json!({"ID": line, "Quantity": n});
    // (case, its order, the line items stored before)
    let stored = [
        ("replaced", "PO-replace", vec![quantity("L1", 1), quantity("L2", 1)]),
        ("added, in ID order", "PO-add", vec![quantity("L5", 1)]),
        ("removed", "PO-remove", vec![quantity("L1", 1), quantity("L2", 1)]),
        (
            "written and removed",
            "PO-both",
            vec![quantity("L1", 1), quantity("L2", 1)],
        ),
        ("two writes of one row", "PO-twice", vec![quantity("L1", 1)]),
        ("written as stored", "PO-same", vec![quantity("L1", 1)]),
        ("not written", "PO-other", vec![quantity("L1", 1)]),
        ("a new order's", "PO-new", vec![]),
    ];
    for (_, order, items) in &stored {
        for item in items {
            seed_line_item(&app.pool, order, item.clone()).await;
        }
    }
    let orders: Vec<ResourceId> = stored.iter().map(|(_, order, _)| id(order)).collect();
    let order = |name: &str| &orders[stored.iter().position(|(_, o, _)| *o == name).unwrap()];
    let written = [
        ("PO-replace", entity(quantity("L1", 5))),
        ("PO-add", entity(quantity("L9", 1))),
        ("PO-add", entity(quantity("L0", 1))),
        ("PO-both", entity(quantity("L1", 9))),
        ("PO-both", entity(quantity("L3", 1))),
        ("PO-twice", entity(quantity("L1", 2))),
        ("PO-twice", entity(quantity("L1", 3))),
        ("PO-same", entity(quantity("L1", 1))),
        ("PO-new", entity(json!({"ID": "L1", "ProductID": "P1"}))),
    ];
    let (l1, l3) = (id("L1"), id("L3"));
    let writes = Writes {
        line_items: written.iter().map(|(o, item)| (order(o), item)).collect(),
        remove_line_items: vec![
            (order("PO-remove"), &l1),
            (order("PO-both"), &l1),
            (order("PO-both"), &l3),
        ],
        ..Writes::default()
    };

    let mut expected = Vec::new();
    for (_, order, _) in &stored {
        let before = stored_line_items(&app.pool, order).await;
        expected.push(writes.line_items_of(order, before));
    }
    write_all(&app.pool, &writes).await;

    for ((case, order, _), expected) in stored.iter().zip(expected) {
        let after = stored_line_items(&app.pool, order).await;
        assert_eq!(after, expected, "{case}: the overlay and the statement disagree");
    }
    // The rules both follow, spelled out.
    assert_eq!(
        stored_line_items(&app.pool, "PO-twice").await,
        [doc(quantity("L1", 2))],
        "of two writes of one row the first is kept"
    );
    assert_eq!(
        stored_line_items(&app.pool, "PO-both").await,
        [doc(quantity("L2", 1))],
        "a line item both written and removed is only removed"
    );
}

/// A case for a store keyed by ID: its name, the ID, the version stored before (if any) and
/// the versions written, in order.
type Case = (&'static str, &'static str, Option<u32>, &'static [u32]);

const KEYED_CASES: [Case; 5] = [
    ("replaced", "X1", Some(1), &[2]),
    ("new", "X2", None, &[1]),
    ("written as stored", "X3", Some(1), &[1]),
    ("not written", "X4", Some(1), &[]),
    ("two writes of one row", "X5", Some(1), &[2, 3]),
];

fn version(id: &str, v: u32) -> Value {
    json!({"ID": id, "V": v})
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

    /// `entities` written to this store, in order.
    fn writes(self, entities: Vec<&Entity>) -> Writes<'_> {
        match self {
            Keyed::Products => Writes {
                products: entities,
                ..Writes::default()
            },
            Keyed::Users => Writes {
                users: entities,
                ..Writes::default()
            },
            Keyed::Orders => Writes {
                orders: entities.into_iter().map(|o| (o, o.reference("FromUserID"))).collect(),
                ..Writes::default()
            },
        }
    }

    /// The document a reader of the batch finds through the overlay, if `writes` replace it.
    fn overlay<'e>(self, writes: &Writes<'e>, id: &str) -> Option<&'e Doc> {
        match self {
            Keyed::Products => writes.product(id),
            Keyed::Users => writes.user(id),
            Keyed::Orders => writes.order(id),
        }
    }
}

/// Runs `cases` on `store`: seeds them, asks the overlay, writes, and compares.
async fn keyed_cases_agree(pool: &PgPool, store: Keyed, cases: &[Case]) {
    let table = store.table();
    for (_, id, before, _) in cases {
        if let Some(v) = before {
            seed_doc(pool, table, version(id, *v)).await;
        }
    }
    let entities: Vec<Entity> = cases
        .iter()
        .flat_map(|(_, id, _, written)| written.iter().map(|v| entity(version(id, *v))))
        .collect();
    let writes = store.writes(entities.iter().collect());

    let mut expected = Vec::new();
    for (_, id, _, _) in cases {
        let before = stored_doc(pool, table, id).await;
        expected.push(store.overlay(&writes, id).cloned().or(before));
    }
    write_all(pool, &writes).await;

    for ((case, id, _, _), expected) in cases.iter().zip(expected) {
        let after = stored_doc(pool, table, id).await;
        assert_eq!(
            after, expected,
            "{table}, {case}: the overlay and the statement disagree"
        );
    }
}

#[tokio::test]
async fn products_and_users_a_batch_finds_are_those_its_write_leaves() {
    let app = TestApp::spawn().await;
    for store in [Keyed::Products, Keyed::Users] {
        keyed_cases_agree(&app.pool, store, &KEYED_CASES).await;
        assert_eq!(
            stored_doc(&app.pool, store.table(), "X5").await,
            Some(doc(version("X5", 2))),
            "{store:?}: of two writes of one row the first is kept"
        );
    }
}

#[tokio::test]
async fn orders_a_batch_finds_are_those_its_write_leaves() {
    let app = TestApp::spawn().await;
    // The statement refuses two writes of one order; a batch never holds them (one trigger per
    // order and batch).
    let cases: Vec<Case> = KEYED_CASES
        .into_iter()
        .filter(|(_, _, _, written)| written.len() < 2)
        .collect();
    keyed_cases_agree(&app.pool, Keyed::Orders, &cases).await;
}

/// The anonymous ID last linked to `user_id`, but none of `excluding`: what a batch reads for a
/// user it knows, leaving out the links it makes itself.
async fn latest_link(pool: &PgPool, user_id: &str, excluding: &[&str]) -> Option<String> {
    sqlx::query_scalar(
        "SELECT anonymous_id FROM identities WHERE user_id = $1 AND anonymous_id <> ALL($2)
         ORDER BY linked_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(excluding)
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_anonymous_id_a_batch_finds_for_a_user_is_the_one_its_write_links_last() {
    let app = TestApp::spawn().await;
    // (anonymous ID, user ID) linked an hour ago.
    for (anonymous, user) in [
        ("a-moved", "u-left"),
        ("a-older", "u-newer"),
        ("a-again", "u-again"),
        ("a-kept", "u-kept"),
    ] {
        sqlx::query("INSERT INTO identities VALUES ($1, $2, now() - interval '1 hour')")
            .bind(anonymous)
            .bind(user)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let users = [
        "u-new", "u-left", "u-moved", "u-newer", "u-again", "u-kept", "u-first", "u-second",
    ];
    let user_ids: Vec<ResourceId> = users.iter().map(|u| id(u)).collect();
    let user = |name: &str| &user_ids[users.iter().position(|u| *u == name).unwrap()];
    let writes = Writes {
        identities: vec![
            ("a-new", user("u-new")),
            ("a-moved", user("u-moved")),
            ("a-newer", user("u-newer")),
            ("a-again", user("u-again")),
            // Two links of one anonymous ID: the first is kept.
            ("a-twice", user("u-first")),
            ("a-twice", user("u-second")),
        ],
        ..Writes::default()
    };

    let linked = writes.linked_anonymous_ids();
    let mut expected = Vec::new();
    for user in users {
        let before = latest_link(&app.pool, user, &linked).await;
        expected.push(writes.linked_anonymous_id(user).map(str::to_owned).or(before));
    }
    write_all(&app.pool, &writes).await;

    for (user, expected) in users.iter().zip(expected) {
        let after = latest_link(&app.pool, user, &[]).await;
        assert_eq!(after, expected, "{user}: the overlay and the statement disagree");
    }
    assert_eq!(latest_link(&app.pool, "u-second", &[]).await, None);
}
