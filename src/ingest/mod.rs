//! Accepting triggers, from a parsed trigger to its 202. Request handlers give their trigger to
//! the [`Ingester`] ([`batcher`]), which gathers those arriving together into batches (group
//! commit), a busy shopper's triggers as readily as any: a batch applies its triggers in arrival
//! order, and a trigger waits only for a batch in flight about one of its shoppers. A batch is
//! accepted in a transaction that holds a lock on each of its shoppers, so that other
//! instances' triggers about them wait for it, and in two statements besides ([`accept`]):
//! every trigger's view of the store is read (its own writes and those of the triggers before
//! it applied), its payload hydrated and its deliveries listed; then the batch's carried
//! entities, as the last write of each leaves them, events and deliveries are written in one
//! statement. Once it committed each trigger
//! is answered, and the deliveries this process's workers have room for are handed straight to
//! them ([`handoff`]), the others queued.

mod accept;
mod batcher;
mod handoff;

use std::sync::Arc;

use crate::storage::StorageError;

pub use accept::{Accepted, DeliveryRef, TriggerOut};
pub use batcher::Ingester;
pub use handoff::{HandedOver, Handoff, Place, Queued};

/// Why a trigger was not accepted. In every case nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The ingest writers have stopped: the server is shutting down.
    #[error("the ingest writers have stopped")]
    Stopped,
    /// The database could not be reached, or the connection was lost, while the trigger's
    /// batch was written; shared by every trigger of that batch.
    #[error("the database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
