//! The statements that accept triggers; the orchestration around them is [`crate::ingest`]'s.
//! [`begin_locking`] begins a batch's transaction holding its shoppers' locks; [`read()`]
//! reads, in one statement, every trigger's view of the store, and [`view`] applies the batch's
//! own entity writes to it; [`store()`] writes a batch's entities, events and deliveries in one
//! statement and notifies the workers (on commit).

mod locks;
mod read;
mod store;

pub(crate) use locks::{begin_locking, lock_key};
pub(crate) use read::{read, view, Match, Read};
pub(crate) use store::{store, NewDelivery, NewEvent};

/// The channel workers LISTEN on; a notification means "new deliveries are due".
pub const CHANNEL: &str = "trackway_deliveries";

pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}
