//! Pure domain types: what a DeliveryConfig, a TrackingEvent or an API key *is*, and the one
//! place each is parsed from untrusted input. Nothing here does I/O; everything here is unit
//! tested beside its code.

pub mod api_key;
pub mod attempt;
pub mod delivery;
pub mod delivery_config;
pub mod event_type;
pub mod failure_kind;
pub mod hydration;
pub mod id;
pub mod listing;
pub mod merge;
pub mod money;
pub mod retry;
pub mod role;
pub mod signing;
pub mod targets;
pub mod tracking_event;
pub mod trigger;
pub mod validation;

pub use delivery_config::{id_matching_path, DeliveryConfig, DeliveryConfigDoc, DeliveryPolicy};
pub use event_type::EventType;
pub use id::ResourceId;
pub use role::Role;
pub use targets::DeliveryTargets;
pub use tracking_event::{ErrorConfigDoc, TrackingEvent, TrackingEventDoc};
pub use validation::{Invalid, InvalidCode, Invalids};
