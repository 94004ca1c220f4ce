//! Trackway: a tracking-event delivery gateway for commerce platforms.
//!
//! Admins configure, through an OrderCloud-shaped REST API, *DeliveryConfigs* (where events go:
//! HTTP webhooks, Sitecore Send, Sitecore Discover, Segment) and *TrackingEvents* (which event
//! type, from which API client, goes to which DeliveryConfig). The commerce platform posts
//! triggers; Trackway hydrates them and delivers them, signed and durably retried.
//!
//! # Layout
//! - [`domain`] — pure types (IDs, event types, targets, policies, list options); parsing of
//!   untrusted input happens here and only here. No I/O.
//! - [`ingest`] — accepting triggers, from a parsed trigger to its 202: the group-commit
//!   batcher, hydration of a batch, the handover of new deliveries to this process's workers.
//! - [`storage`] — PostgreSQL, one module per aggregate (the trigger batch's read and write
//!   statements in `storage::ingest`); maps named constraints to errors.
//! - [`api`] — actix-web handlers, one file per resource, plus auth, errors and the OpenAPI spec.
//! - [`delivery`] — the engine, read top-down in `engine` (workers take new deliveries
//!   straight from the ingest writers or claim them from the queue, each request holding one
//!   of a bounded number of places per process and per target), `attempt` (render, send, the
//!   circuit breaker, the decision of what follows) and `recorder` (outcomes written in
//!   batches); the outbound client and its network guard; one module per target.
//! - [`clock`] — time as the engine sees it (manual in tests).
//! - [`demo`] — the `trackway demo` walkthrough.
//! - [`receiver`] — a webhook receiver on loopback that records and answers as scripted: the
//!   destination of the demo, the tests and the benchmark.
//! - [`config`] — layered settings, validated at boot.
//! - [`startup`] — builds the server (binding its own listener) and runs migrations.
//! - [`telemetry`] — logging.
//!
//! `src/main.rs` is only the command line.

#![forbid(unsafe_code)]

pub mod api;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod ingest;
pub mod receiver;
pub mod startup;
pub mod storage;
pub mod telemetry;
