//! The delivery engine. Workers claim due deliveries in batches, render each target's request
//! from the stored payload, send them concurrently through the shared [`OutboundClient`], and
//! record every attempt and its consequence in one statement (or short transaction) per batch.
//!
//! A delivery from claim to recorded attempt, top-down: [`engine`] (the loop: claim or
//! handover, a slot per request, launch), [`attempt`] (render, send, breaker, and the decision
//! of what follows, a pure function in `domain::attempt`), [`recorder`] (outcomes written in
//! batches; attempts cut off by a shutdown recorded as such). [`render()`] and one module per
//! target build the requests; [`slots`] and [`breaker`] hold the capacity per target;
//! [`sample`] is what a test delivery sends; [`ordercloud_message`] holds OrderCloud's message
//! models, the body an Http target may choose instead of the hydrated payload.
//!
//! States of a delivery: `Pending` (queued, or in flight while leased) → `Succeeded`, or back
//! to `Pending` with a later `next_attempt_at`, or `Failed` (a dead letter, announced to the
//! ErrorConfig's DeliveryConfig). A worker that dies mid-flight loses nothing: the lease runs
//! out and another worker claims the delivery again (at-least-once; receivers dedupe on
//! `webhook-id`).

mod attempt;
mod breaker;
pub mod client;
pub mod commerce;
pub mod discover_event;
mod engine;
pub mod guard;
pub mod http_target;
pub mod ordercloud_message;
mod recorder;
pub mod sample;
pub mod segment;
pub mod send_event;
mod slots;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::DeliverySettings;
use crate::domain::delivery::DeliveryId;
use crate::domain::event_type::sitecore_event_type;
use crate::domain::targets::{DeliveryTargets, TargetKind};
use crate::storage::deliveries::Outcome;
use crate::storage::delivery_configs::ConfigNow;
use breaker::BreakerPolicy;
use client::OutboundClient;
use commerce::{Event, Rendered};
use guard::NetworkGuard;
use slots::Capacity;

pub use engine::Workers;
pub use sample::TestOutcome;

pub struct Dispatcher {
    pool: PgPool,
    client: OutboundClient,
    clock: Clock,
    settings: DeliverySettings,
    /// Places for requests in flight, shared by the claim loop and the ingest handoff.
    capacity: Arc<Capacity>,
    /// Where finished attempts go to be recorded, while [`Dispatcher::run`] runs.
    recorder: Mutex<Option<mpsc::WeakUnboundedSender<Outcome>>>,
    /// The attempts running in tasks of this process: each delivery's attempt number and
    /// when it started, so that those cut off by a shutdown can be recorded as such.
    in_flight: Mutex<HashMap<DeliveryId, (i32, DateTime<Utc>)>>,
    /// Until when a rate-limited target is known to have deliveries coming: till then the
    /// queue is claimed at least every [`RATE_LIMITED_POLL`], so that its tokens are spent as
    /// they refill rather than once per poll interval.
    rate_limited_until: Mutex<Option<tokio::time::Instant>>,
}

/// How often the queue is claimed while a rate-limited target has deliveries coming.
const RATE_LIMITED_POLL: Duration = Duration::from_millis(100);
/// How long a rate-limited target counts as busy after its last delivery claimed or queued.
const RATE_LIMITED_FOR: Duration = Duration::from_secs(2);

impl Dispatcher {
    pub fn new(pool: PgPool, clock: Clock, settings: &DeliverySettings) -> anyhow::Result<Self> {
        let guard = NetworkGuard::new(settings.allowed_networks()?);
        let client = OutboundClient::new(
            guard,
            Duration::from_secs(settings.connect_timeout_seconds),
            settings.max_response_bytes,
        )?;
        Ok(Dispatcher {
            pool,
            client,
            clock,
            capacity: Capacity::new(
                settings.max_in_flight,
                BreakerPolicy {
                    failures: settings.breaker_failures,
                    open_for: Duration::from_secs(settings.breaker_open_seconds),
                    max_open_for: Duration::from_secs(settings.breaker_max_open_seconds),
                },
            ),
            recorder: Mutex::new(None),
            in_flight: Mutex::new(HashMap::new()),
            rate_limited_until: Mutex::new(None),
            settings: settings.clone(),
        })
    }

    pub fn client(&self) -> &OutboundClient {
        &self.client
    }

    /// Notes that a rate-limited target has deliveries coming (`seen`: any of `configs` is
    /// rate-limited).
    fn note_rate_limited<'a>(&self, mut configs: impl Iterator<Item = &'a ConfigNow>) {
        if configs.any(|c| c.policy.rate_limit_per_second.is_some()) {
            let until = tokio::time::Instant::now() + RATE_LIMITED_FOR;
            *self.rate_limited_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
        }
    }

    /// How long the claim loop may sleep without news.
    fn poll_interval(&self) -> Duration {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let until = *self.rate_limited_until.lock().unwrap_or_else(|e| e.into_inner());
        match until {
            Some(until) if tokio::time::Instant::now() < until => poll.min(RATE_LIMITED_POLL),
            _ => poll,
        }
    }

    /// How long a claimed or handed-over delivery is leased.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.lease()).unwrap_or(chrono::Duration::MAX)
    }
}

/// The request a target makes of a payload: one module per target, each a pure function.
/// `delivery_id` is the text receivers dedupe on: a [`DeliveryId`]'s, or a test delivery's own.
/// `Err` names the target the config no longer has.
pub fn render(
    targets: &DeliveryTargets,
    kind: TargetKind,
    payload: &serde_json::Value,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<Rendered, String> {
    let event = Event { payload, delivery_id };
    let missing = || format!("a {kind} target");
    match kind {
        TargetKind::Http => {
            let target = targets.http.as_ref().ok_or_else(missing)?;
            // The TrackingEvent's `ConfigData.EventNames.Http` renames it.
            let name = event
                .event_name_override(TargetKind::Http)
                .unwrap_or_else(|| sitecore_event_type(event.event_type()));
            let envelope = http_target::Envelope {
                sitecore_event_type: name,
                delivery_id,
                at: now,
            };
            Ok(http_target::render(target, payload, &envelope))
        }
        TargetKind::SendEvent => Ok(send_event::render(
            &event,
            targets.send_event.as_ref().ok_or_else(missing)?,
        )),
        TargetKind::DiscoverEvent => Ok(discover_event::render(
            &event,
            targets.discover_event.as_ref().ok_or_else(missing)?,
        )),
        TargetKind::Segment => Ok(segment::render(&event, targets.segment.as_ref().ok_or_else(missing)?)),
    }
}
