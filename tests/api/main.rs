//! Black-box tests through HTTP against a real PostgreSQL: one database per test.

mod auth;
mod batches;
mod capacity;
mod cli;
mod delivery;
mod delivery_configs;
mod entities;
mod error_config;
mod faults;
mod golden;
mod health;
mod helpers;
mod hostile_input;
mod http_formats;
mod lists;
mod network_guard;
mod overlay;
mod processes;
mod rate_limits;
mod records;
mod schema;
mod test_deliveries;
mod tracking_events;
mod triggers;
mod vendor_fidelity;
mod vendors;
