//! The delivery engine. Workers claim due deliveries in batches, render each target's request
//! from the stored payload, send them concurrently through the shared [`OutboundClient`], and
//! record every attempt and its consequence in one statement (or short transaction) per batch.
//!
//! States of a delivery: `Pending` (queued, or in flight while leased) → `Succeeded`, or back
//! to `Pending` with a later `next_attempt_at`, or `Failed` (a dead letter, announced to the
//! ErrorConfig's DeliveryConfig). A worker that dies mid-flight loses nothing: the lease runs
//! out and another worker claims the delivery again (at-least-once; receivers dedupe on
//! `webhook-id`).

mod breaker;
pub mod client;
pub mod commerce;
pub mod discover_event;
pub mod guard;
pub mod http_target;
pub mod sample;
pub mod segment;
pub mod send_event;
mod slots;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use rand::Rng;
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::DeliverySettings;
use crate::domain::attempt::{decide, AttemptResult, Decision, FailureKind};
use crate::domain::delivery_config::DeliveryPolicy;
use crate::domain::hydration::with_tracking_event;
use crate::domain::targets::{DeliveryTargets, TargetKind};
use crate::domain::DeliveryConfig;
use crate::storage::deliveries::{self, Claimed, Next, Outcome};
use crate::storage::delivery_configs::ConfigNow;
use crate::storage::StorageError;
use breaker::{BreakerPolicy, Change};
use client::{OutboundClient, PreparedRequest};
use commerce::{Event, Rendered};
use guard::NetworkGuard;
use slots::Capacity;

pub use worker::Workers;

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
    in_flight: Mutex<HashMap<String, (i32, DateTime<Utc>)>>,
}

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
            settings: settings.clone(),
        })
    }

    pub fn client(&self) -> &OutboundClient {
        &self.client
    }

    /// How long a claimed or handed-over delivery is leased.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.lease()).unwrap_or(chrono::Duration::MAX)
    }

    /// Delivers every delivery that is due now, batch after batch, and returns how many
    /// attempts were made. Tests call this directly, with a manual clock.
    pub async fn deliver_due(&self) -> Result<usize, StorageError> {
        let mut attempted = 0;
        loop {
            let batch = deliveries::claim(
                &self.pool,
                self.clock.now(),
                self.settings.batch_size,
                self.lease(),
                &[],
            )
            .await?;
            if batch.deliveries.is_empty() && batch.unreadable.is_empty() {
                return Ok(attempted);
            }
            attempted += batch.deliveries.len() + batch.unreadable.len();
            let mut outcomes = join_all(batch.deliveries.into_iter().map(|delivery| {
                let config = batch.configs.get(&delivery.delivery_config_id);
                self.attempt(delivery, config)
            }))
            .await;
            outcomes.extend(
                batch
                    .unreadable
                    .into_iter()
                    .map(|(d, reason)| self.unreadable(d, reason)),
            );
            deliveries::record(&self.pool, &outcomes, self.clock.now()).await?;
        }
    }

    /// Makes one attempt at a claimed delivery, with its DeliveryConfig as it is now (`None`
    /// when it was deleted), and takes what it found into the target's circuit breaker.
    pub(crate) async fn attempt(&self, mut delivery: Claimed, config: Option<&ConfigNow>) -> Outcome {
        let started_at = self.clock.now();
        let sent = tokio::time::Instant::now();
        // The payload is not recorded: it is moved into the request, not copied.
        let payload = std::mem::take(&mut delivery.payload.0);
        let policy = config
            .and_then(|c| DeliveryPolicy::parse("DeliveryPolicy", Some(&c.policy.0)).ok())
            .unwrap_or_default();
        let timeout = policy.timeout.min(self.settings.lease() / 2);
        let (result, skipped) = match self.prepare(&delivery, payload, config, started_at) {
            Ok((kind, Rendered::Request(request))) => (self.send(kind, &request, timeout).await, None),
            Ok((_, Rendered::Skip(reason))) => (AttemptResult::skipped(&reason), Some(reason)),
            Err(failure) => (failure, None),
        };
        let breaker = self.capacity.observe(&delivery.target_key(), result.health(), sent);
        let attempts_made = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
        let jitter = rand::thread_rng().gen_range(-1.0..=1.0);
        let mut next = match skipped {
            Some(reason) => Next::Skipped(reason),
            None => match decide(&result, &policy.retry_schedule, attempts_made, jitter) {
                Decision::Succeeded => Next::Succeeded,
                Decision::RetryAfter(delay) => {
                    Next::RetryAt(self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX))
                }
                Decision::Failed { reason, disable_target } => Next::Failed { reason, disable_target },
            },
        };
        // A failed probe after the destination has been down for longer than the whole
        // schedule: any delivery tried throughout would be a dead letter by now, so the
        // target is given up on, as after a 410. Its breaker stays open: the deliveries it
        // holds are then claimed one at a time and fail as sent to a disabled target.
        if let Some(Change::Opened { down_for, .. }) = breaker {
            let schedule: Duration = policy.retry_schedule.iter().sum();
            if !down_for.is_zero() && down_for >= schedule {
                next = Next::Failed {
                    reason: format!(
                        "the destination has been down for {} s, longer than its whole RetrySchedule; its target is now disabled",
                        down_for.as_secs()
                    ),
                    disable_target: true,
                };
            }
        }
        if let Next::Failed { reason, .. } = &next {
            tracing::warn!(delivery = %delivery.id, target = %delivery.target, reason, "delivery failed for good");
        }
        let (error_kind, error_message) = match result.failure {
            Some((kind, message)) => (Some(kind), Some(message)),
            None => (None, None),
        };
        Outcome {
            delivery,
            started_at,
            duration_ms: result.duration.as_secs_f64() * 1e3,
            status_code: result.status_code.map(i32::from),
            error_kind,
            error_message,
            response_body: result.response_body,
            next,
        }
    }

    /// The dead letter for a claimed delivery whose stored documents cannot be read: nothing is
    /// sent, the attempt is recorded with the reason (kind `Unreadable`), and the ErrorConfig
    /// is told, as for any dead letter.
    pub(crate) fn unreadable(&self, delivery: Claimed, reason: String) -> Outcome {
        tracing::error!(delivery = %delivery.id, event = %delivery.event_id, reason, "a delivery cannot be read; it is a dead letter");
        Outcome {
            delivery,
            started_at: self.clock.now(),
            duration_ms: 0.0,
            status_code: None,
            error_kind: Some(FailureKind::Unreadable),
            error_message: Some(reason.clone()),
            response_body: None,
            next: Next::Failed {
                reason,
                disable_target: false,
            },
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i32, DateTime<Utc>)>> {
        self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records every attempt still in flight as `Interrupted` and makes its delivery due
    /// again at once, instead of when its lease runs out: for a shutdown that cannot wait for
    /// them. Returns how many there were.
    pub async fn interrupt_in_flight(&self) -> Result<usize, StorageError> {
        let interrupted: Vec<(String, i32, DateTime<Utc>)> = self
            .in_flight()
            .iter()
            .map(|(id, (attempt, started))| (id.clone(), *attempt, *started))
            .collect();
        deliveries::interrupt(&self.pool, &interrupted, self.clock.now()).await?;
        Ok(interrupted.len())
    }

    /// The request for one attempt at `delivery` with its `payload`, or why there can be none.
    fn prepare(
        &self,
        delivery: &Claimed,
        payload: serde_json::Value,
        config: Option<&ConfigNow>,
        now: DateTime<Utc>,
    ) -> Result<(TargetKind, Rendered), AttemptResult> {
        let config_error = |message: String| AttemptResult::failed(FailureKind::Config, message);
        let config = config.ok_or_else(|| {
            config_error(format!(
                "DeliveryConfig {} no longer exists",
                delivery.delivery_config_id
            ))
        })?;
        let kind = delivery.target;
        if let Some(reason) = config.disabled_reason(kind) {
            return Err(config_error(reason));
        }
        let targets = DeliveryTargets::parse("DeliveryTargets", &config.targets.0)
            .map_err(|e| config_error(format!("DeliveryConfig {} is invalid: {}", config.id, e.0[0].message)))?;
        let payload = with_tracking_event(payload, &delivery.tracking_event.0);
        render(&targets, kind, &payload, &delivery.id, now)
            .map(|rendered| (kind, rendered))
            .map_err(|missing| config_error(format!("DeliveryConfig {} no longer has {missing}", config.id)))
    }

    /// Sends one request. A vendor API's 4xx (other than 408 and 429) means the request itself
    /// is refused, so it is marked permanent instead of being retried for days.
    async fn send(&self, kind: TargetKind, request: &PreparedRequest, timeout: Duration) -> AttemptResult {
        let mut result = self.client.send(request, timeout).await;
        let refused = result
            .status_code
            .is_some_and(|code| (400..500).contains(&code) && !matches!(code, 408 | 410 | 429));
        if kind != TargetKind::Http && refused {
            if let Some((failure, message)) = &mut result.failure {
                *failure = FailureKind::Rejected;
                *message = format!("{kind} refused the request: {message}");
            }
        }
        result
    }

    /// Sends a sample to each target of `config` now, outside the queue, all at once: the
    /// test message to an Http target, a sample `LineItemAdded` to a vendor (see [`sample`]).
    pub async fn test(&self, config: &DeliveryConfig, now: DateTime<Utc>) -> Vec<(TargetKind, TestOutcome)> {
        let id = uuid::Uuid::now_v7().simple();
        let (event_id, delivery_id) = (format!("evt_test_{id}"), format!("dlv_test_{id}"));
        let message = sample::test_message(&event_id, config.id.as_str(), now);
        let event = sample::sample_event(&event_id, now);
        join_all(config.targets.kinds().into_iter().map(|kind| {
            let payload = if kind == TargetKind::Http { &message } else { &event };
            let rendered = render(&config.targets, kind, payload, &delivery_id, now);
            async move {
                let outcome = match rendered {
                    Ok(Rendered::Request(request)) => {
                        TestOutcome::Sent(self.send(kind, &request, config.policy.timeout).await)
                    }
                    Ok(Rendered::Skip(reason)) => TestOutcome::Skipped(reason),
                    Err(missing) => {
                        TestOutcome::Sent(AttemptResult::failed(FailureKind::Config, format!("no {missing}")))
                    }
                };
                (kind, outcome)
            }
        }))
        .await
    }
}

/// What a test send to one target did.
#[derive(Debug, Clone, PartialEq)]
pub enum TestOutcome {
    /// A request was made, or refused before it left (the network guard, a config error):
    /// what it met.
    Sent(AttemptResult),
    /// The target cannot express the sample, so nothing was sent: the reason.
    Skipped(String),
}

/// The request a target makes of a payload: one module per target, each a pure function.
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
            let body = serde_json::to_vec(payload).unwrap_or_default();
            Ok(Rendered::Request(http_target::prepare(
                target,
                delivery_id,
                now.timestamp(),
                body,
            )))
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
