//! Black-box tests through HTTP against a real PostgreSQL: one database per test.

mod auth;
mod cli;
mod delivery_configs;
mod error_config;
mod health;
mod helpers;
mod lists;
mod tracking_events;
