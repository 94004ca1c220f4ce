//! The overlay against the statement it stands in for, and both against the same writes made
//! one by one. A batch of triggers reads the store once, before it writes; each trigger finds
//! the writes of the triggers before it and its own through the overlay (`Overlay::apply`,
//! then `line_items_of`, `order`, `product`, `user`, `linked_anonymous_id`…), which re-states
//! in Rust what the SQL upserts do, and the batch writes the overlay's final state in one
//! statement. Here all three run on the same cases, several writes of one row among them (as
//! triggers about one shopper or one product make when they share a batch): rows are seeded in
//! two databases alike, the overlay answers from the rows as stored before, the final state is
//! written in one statement in the first database and each trigger's writes one statement
//! after another in the second, and the rows read back from both must be what the overlay said.

mod documents;
mod identities;
mod line_items;

use serde_json::{Map, Value};
use sqlx::PgPool;
use trackway::domain::trigger::Entity;
use trackway::domain::ResourceId;
use trackway::storage::entities::{write, Overlay, Writes};

use crate::helpers::TestApp;

pub(super) type Doc = Map<String, Value>;

pub(super) fn id(value: &str) -> ResourceId {
    ResourceId::parse("ID", value).unwrap()
}

pub(super) fn doc(value: Value) -> Doc {
    value.as_object().cloned().expect("a JSON object")
}

/// An entity whose document holds its ID.
pub(super) fn entity(value: Value) -> Entity {
    let doc = doc(value);
    Entity {
        id: id(doc["ID"].as_str().expect("an ID")),
        doc,
    }
}

/// Two databases seeded alike: the batch's single statement goes to the first, the triggers'
/// writes one by one to the second.
pub(super) struct Twins {
    together: TestApp,
    one_by_one: TestApp,
}

impl Twins {
    pub(super) async fn spawn() -> Twins {
        Twins {
            together: TestApp::spawn().await,
            one_by_one: TestApp::spawn().await,
        }
    }

    pub(super) async fn seed(&self, sql: &str, binds: &[&str]) {
        for pool in self.pools() {
            let mut statement = sqlx::query(sql);
            for bind in binds {
                statement = statement.bind(*bind);
            }
            statement.execute(pool).await.unwrap();
        }
    }

    fn pools(&self) -> [&PgPool; 2] {
        [&self.together.pool, &self.one_by_one.pool]
    }

    /// Writes `sequence`: its overlay's final state in one statement, and each of its writes
    /// in a statement of its own. Returns the overlay.
    pub(super) async fn write<'a>(&self, sequence: &[Writes<'a>]) -> Overlay<'a> {
        let mut overlay = Overlay::default();
        for writes in sequence {
            overlay.apply(writes);
        }
        let mut conn = self.together.pool.acquire().await.unwrap();
        write(&mut conn, &overlay.writes())
            .await
            .expect("the batch's statement");
        let mut conn = self.one_by_one.pool.acquire().await.unwrap();
        for writes in sequence {
            write(&mut conn, writes).await.expect("one trigger's statement");
        }
        overlay
    }

    /// Reads `query`'s one value with `binds` from both databases: they must agree.
    pub(super) async fn read<T>(&self, query: &str, binds: &[&str]) -> Option<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Unpin
            + PartialEq
            + std::fmt::Debug,
    {
        let mut found = Vec::new();
        for pool in self.pools() {
            let mut statement = sqlx::query_scalar(query);
            for bind in binds {
                statement = statement.bind(*bind);
            }
            let value: Option<T> = statement.fetch_optional(pool).await.unwrap();
            found.push(value);
        }
        assert_eq!(
            found[0], found[1],
            "{query} {binds:?}: the batch and one by one disagree"
        );
        found.swap_remove(0)
    }
}

/// The cases' steps trigger by trigger: the k-th trigger takes the k-th step of every case
/// that has one, so that one trigger's writes touch many cases and a case spans triggers.
pub(super) fn by_trigger<'c, C, S>(cases: &'c [C], steps: impl Fn(&'c C) -> &'c [S]) -> Vec<Vec<(&'c C, &'c S)>> {
    let triggers = cases.iter().map(|c| steps(c).len()).max().unwrap_or(0);
    (0..triggers)
        .map(|k| cases.iter().filter_map(|c| Some((c, steps(c).get(k)?))).collect())
        .collect()
}
