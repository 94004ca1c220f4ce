//! Pure domain types: what a DeliveryConfig, a TrackingEvent or an API key *is*, and the one
//! place each is parsed from untrusted input. Nothing here does I/O; everything here is unit
//! tested beside its code.

pub mod api_key;
pub mod delivery_config;
pub mod event_type;
pub mod id;
pub mod listing;
pub mod merge;
pub mod role;
pub mod targets;
pub mod tracking_event;
pub mod validation;

pub use delivery_config::{DeliveryConfig, DeliveryConfigDoc, DeliveryPolicy};
pub use event_type::EventType;
pub use id::ResourceId;
pub use role::Role;
pub use targets::DeliveryTargets;
pub use tracking_event::{ErrorConfigDoc, TrackingEvent, TrackingEventDoc};
pub use validation::{Invalid, InvalidCode, Invalids};
