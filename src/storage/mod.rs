//! PostgreSQL access, one file per aggregate. Handlers never write SQL and this module never
//! sees HTTP: it speaks domain types and [`StorageError`], whose variants come from the named
//! constraints of `migrations/` — mapped here, in [`classify`], and nowhere else.

pub mod api_keys;
mod column_types;
pub mod dead_letters;
pub mod deliveries;
pub mod delivery_configs;
pub mod delivery_records;
pub mod entities;
mod entity_writes;
pub mod error_config;
pub mod events;
pub mod ingest;
pub mod listing;
mod params;
pub mod tracking_events;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::DatabaseSettings;

pub use listing::Page;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{kind} {id:?} already exists")]
    AlreadyExists { kind: &'static str, id: String },
    /// A document names another resource that does not exist.
    #[error("{field} {id:?} names no existing {kind}")]
    MissingReference {
        field: &'static str,
        kind: &'static str,
        id: String,
    },
    /// A resource cannot be deleted while others refer to it.
    #[error("{kind} {id:?} is still used by {used_by:?}")]
    InUse {
        kind: &'static str,
        id: String,
        used_by: Vec<Reference>,
    },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// One resource that refers to another, for [`StorageError::InUse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: &'static str,
    pub id: String,
}

/// What a named constraint means to a client.
enum Constraint {
    UniqueId { kind: &'static str },
    ForeignKey { field: &'static str, kind: &'static str },
}

/// Every constraint a client can run into, by the name `migrations/` gives it.
fn constraint(name: &str) -> Option<Constraint> {
    Some(match name {
        "delivery_configs_pkey" => Constraint::UniqueId { kind: "DeliveryConfig" },
        "tracking_events_pkey" => Constraint::UniqueId { kind: "TrackingEvent" },
        "tracking_events_delivery_config_fkey" | "error_config_delivery_config_fkey" => Constraint::ForeignKey {
            field: "DeliveryConfigID",
            kind: "DeliveryConfig",
        },
        _ => return None,
    })
}

/// Whether a trigger's idempotency key was found taken: another process accepted a trigger
/// with the same key meanwhile.
pub(crate) fn idempotency_key_taken(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|db| db.constraint()) == Some("events_idempotency_key")
}

/// Whether `err` says the database could not run the statement at all, rather than refused
/// it: the connection failed or was closed (SQLSTATE class 08, an I/O or TLS error), the
/// server ended or cancelled the session (class 57: `pg_terminate_backend`, a shutdown) or
/// lacked the resources (class 53, e.g. too many connections), or a trigger batch waited past
/// its `lock_timeout` for another instance's batch (55P03). A statement cut off this way
/// rolls back, so nothing it wrote was kept; the request may be retried.
pub fn unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // 55P03: a lock not had within `lock_timeout` (another instance holds a shopper).
        sqlx::Error::Database(db) => {
            connection_refused(err)
                || db.code().is_some_and(|code| {
                    code == "55P03" || ["08", "53", "57"].iter().any(|class| code.starts_with(class))
                })
        }
        _ => false,
    }
}

/// Whether the database refused the connection, met on connecting, before anything ran: the
/// database named is gone (3D000: dropped, or not restored yet) or the credentials are refused
/// (class 28: rotated).
pub fn connection_refused(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "3D000" || code.starts_with("28"))
}

/// Turns a constraint violation into the error a client can act on. `id` is the row written,
/// `referenced_id` the ID its foreign key names.
pub(crate) fn classify(err: sqlx::Error, id: &str, referenced_id: &str) -> StorageError {
    let meaning = err
        .as_database_error()
        .and_then(|db| db.constraint())
        .and_then(constraint);
    match meaning {
        Some(Constraint::UniqueId { kind }) => StorageError::AlreadyExists {
            kind,
            id: id.to_owned(),
        },
        Some(Constraint::ForeignKey { field, kind }) => StorageError::MissingReference {
            field,
            kind,
            id: referenced_id.to_owned(),
        },
        None => StorageError::Database(err),
    }
}

/// The outcome of a read-modify-write: either the caller's closure refused the change, or
/// storage failed.
#[derive(Debug)]
pub enum SaveError<E> {
    Rejected(E),
    Storage(StorageError),
}

impl<E> From<StorageError> for SaveError<E> {
    fn from(err: StorageError) -> Self {
        SaveError::Storage(err)
    }
}

impl<E> From<sqlx::Error> for SaveError<E> {
    fn from(err: sqlx::Error) -> Self {
        SaveError::Storage(StorageError::Database(err))
    }
}

/// A saved document and whether saving created it.
#[derive(Debug)]
pub struct Saved<T> {
    pub doc: T,
    pub created: bool,
}

/// A pool for the given settings. Connections are made lazily, so this never blocks on the
/// database; readiness is what `/health/ready` reports.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, crate::config::ConfigError> {
    Ok(lazy_pool(
        settings,
        settings.max_connections,
        settings.connect_options()?,
    ))
}

/// How long a pooled connection may sit idle before it is checked (a round trip) on its way
/// out of the pool. sqlx checks every connection on every acquire by default: on the ingest
/// path, one round trip in five per batch, and the wait a trigger's 202 spent most in after
/// the writers' own statements. A connection in steady use is proven by its last statement; one
/// that failed since (the database restarted under load) fails its next statement, which is
/// answered like any lost connection (a trigger gets 503, nothing stored) and closed.
pub(crate) const CHECK_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

fn lazy_pool(settings: &DatabaseSettings, size: u32, options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(settings.acquire_timeout())
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options)
}

/// A pool of `size` connections for the engine's hot paths (accepting triggers, claiming and
/// recording deliveries), each with its own so that neither starves the other nor the API. Their
/// few statements are fixed, take arrays of rows (`unnest`) and are meant to find every
/// row by its key. Planning them afresh each time cost more than running them (≈0.5 ms per
/// statement, half of PostgreSQL's time under load), so their plans are made once per
/// connection (`plan_cache_mode = force_generic_plan`); and a plan made while a table was still
/// small would scan it forever after, so table scans are priced out (`enable_seqscan = off`).
pub fn hot_pool(settings: &DatabaseSettings, size: u32) -> Result<PgPool, crate::config::ConfigError> {
    let options = settings
        .connect_options()?
        .options([("plan_cache_mode", "force_generic_plan"), ("enable_seqscan", "off")]);
    Ok(lazy_pool(settings, size, options))
}

/// Whether the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> Result<(), StorageError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
