//! Accepting triggers, from a parsed trigger to its 202. Request handlers give their trigger to
//! the [`Ingester`] ([`batcher`]), which gathers those arriving together into batches (group
//! commit) that never hold two triggers about the same shopper. A batch is accepted in two
//! statements ([`accept`]): every trigger's view of the store is read, its payload hydrated
//! and its deliveries listed; then the batch's carried entities, events and deliveries are
//! written in one statement that commits on its own. Only then is each trigger answered, and
//! the deliveries this process's workers have room for are handed straight to them
//! ([`handoff`]), the others queued.

mod accept;
mod batcher;
mod handoff;

pub use accept::{Accepted, DeliveryRef, TriggerOut};
pub use batcher::Ingester;
pub use handoff::{HandedOver, Handoff, Place, Queued};
