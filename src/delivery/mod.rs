//! The delivery engine. Workers claim due deliveries in batches, render each target's request
//! from the stored payload, send them concurrently through the shared [`OutboundClient`], and
//! record every attempt and its consequence in one short transaction per batch.
//!
//! States of a delivery: `Pending` (queued, or in flight while leased) → `Succeeded`, or back
//! to `Pending` with a later `next_attempt_at`, or `Failed` (a dead letter, announced to the
//! ErrorConfig's DeliveryConfig). A worker that dies mid-flight loses nothing: the lease runs
//! out and another worker claims the delivery again (at-least-once; receivers dedupe on
//! `webhook-id`).

pub mod client;
pub mod guard;
pub mod http_target;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use rand::Rng;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::DeliverySettings;
use crate::domain::attempt::{decide, AttemptResult, Decision, FailureKind};
use crate::domain::delivery_config::DeliveryPolicy;
use crate::domain::hydration::with_tracking_event;
use crate::domain::targets::{DeliveryTargets, TargetKind};
use crate::domain::DeliveryConfig;
use crate::storage::deliveries::{self, Claimed, ConfigNow, Next, Outcome};
use crate::storage::ingest::CHANNEL;
use crate::storage::StorageError;
use client::{OutboundClient, PreparedRequest};
use guard::NetworkGuard;

pub struct Dispatcher {
    pool: PgPool,
    client: OutboundClient,
    clock: Clock,
    settings: DeliverySettings,
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
            settings: settings.clone(),
        })
    }

    pub fn client(&self) -> &OutboundClient {
        &self.client
    }

    /// Delivers every delivery that is due now, batch after batch, and returns how many
    /// attempts were made. Tests call this directly, with a manual clock.
    pub async fn deliver_due(&self) -> Result<usize, StorageError> {
        let mut attempted = 0;
        loop {
            let lease = chrono::Duration::from_std(self.settings.lease()).unwrap_or(chrono::Duration::MAX);
            let batch = deliveries::claim(&self.pool, self.clock.now(), self.settings.batch_size, lease).await?;
            if batch.deliveries.is_empty() {
                return Ok(attempted);
            }
            attempted += batch.deliveries.len();
            let outcomes = join_all(
                batch
                    .deliveries
                    .into_iter()
                    .map(|delivery| self.attempt(delivery, &batch.configs)),
            )
            .await;
            deliveries::record(&self.pool, &outcomes, self.clock.now()).await?;
        }
    }

    async fn attempt(&self, delivery: Claimed, configs: &std::collections::HashMap<String, ConfigNow>) -> Outcome {
        let started_at = self.clock.now();
        let config = configs.get(&delivery.delivery_config_id);
        let policy = config
            .and_then(|c| DeliveryPolicy::parse("DeliveryPolicy", Some(&c.policy.0)).ok())
            .unwrap_or_default();
        let result = match self.prepare(&delivery, config, started_at) {
            Ok(request) => {
                let timeout = policy.timeout.min(self.settings.lease() / 2);
                self.client.send(&request, timeout).await
            }
            Err(failure) => failure,
        };
        let attempts_made = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
        let jitter = rand::thread_rng().gen_range(-1.0..=1.0);
        let next = match decide(&result, &policy.retry_schedule, attempts_made, jitter) {
            Decision::Succeeded => Next::Succeeded,
            Decision::RetryAfter(delay) => {
                Next::RetryAt(self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX))
            }
            Decision::Failed { reason, disable_target } => Next::Failed { reason, disable_target },
        };
        if let Next::Failed { reason, .. } = &next {
            tracing::warn!(delivery = %delivery.id, target = %delivery.target, reason, "delivery failed for good");
        }
        let (error_kind, error_message) = match result.failure {
            Some((kind, message)) => (Some(kind.as_str()), Some(message)),
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

    /// The request for one attempt, or why there can be none.
    fn prepare(
        &self,
        delivery: &Claimed,
        config: Option<&ConfigNow>,
        now: DateTime<Utc>,
    ) -> Result<PreparedRequest, AttemptResult> {
        let config_error = |message: String| AttemptResult::failed(FailureKind::Config, message);
        let config = config.ok_or_else(|| {
            config_error(format!(
                "DeliveryConfig {} no longer exists",
                delivery.delivery_config_id
            ))
        })?;
        let kind = TargetKind::parse(&delivery.target)
            .ok_or_else(|| config_error(format!("unknown target {}", delivery.target)))?;
        if let Some(reason) = config.disabled_reason(kind) {
            return Err(config_error(reason));
        }
        let targets = DeliveryTargets::parse("DeliveryTargets", &config.targets.0)
            .map_err(|e| config_error(format!("DeliveryConfig {} is invalid: {}", config.id, e.0[0].message)))?;
        let body = with_tracking_event(&delivery.payload.0, &delivery.tracking_event.0);
        let body = serde_json::to_vec(&body).map_err(|e| AttemptResult::failed(FailureKind::Request, e.to_string()))?;
        match kind {
            TargetKind::Http => {
                let target = targets.http.as_ref().ok_or_else(|| {
                    config_error(format!("DeliveryConfig {} no longer has an Http target", config.id))
                })?;
                Ok(http_target::prepare(target, &delivery.id, now.timestamp(), body))
            }
            TargetKind::SendEvent | TargetKind::DiscoverEvent | TargetKind::Segment => Err(config_error(format!(
                "the {kind} target is not implemented yet; this delivery can be re-queued once it is"
            ))),
        }
    }

    /// Sends a sample message to each target of `config` now, outside the queue.
    pub async fn test(&self, config: &DeliveryConfig, now: DateTime<Utc>) -> Vec<(TargetKind, AttemptResult)> {
        let event_id = format!("evt_test_{}", uuid::Uuid::now_v7().simple());
        let sample = serde_json::json!({
            "ID": event_id,
            "EventType": "Test",
            "Date": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "ClientID": null,
            "TrackingEvent": {"ID": null, "Name": "Test message", "ConfigData": null},
            "Message": format!("A test message from Trackway for DeliveryConfig {}.", config.id),
        });
        let body = serde_json::to_vec(&sample).unwrap_or_default();
        let mut results = Vec::new();
        if let Some(target) = &config.targets.http {
            let request =
                http_target::prepare(target, &event_id.replace("evt_", "dlv_"), now.timestamp(), body.clone());
            results.push((
                TargetKind::Http,
                self.client.send(&request, config.policy.timeout).await,
            ));
        }
        for (present, kind) in [
            (config.targets.send_event.is_some(), TargetKind::SendEvent),
            (config.targets.discover_event.is_some(), TargetKind::DiscoverEvent),
            (config.targets.segment.is_some(), TargetKind::Segment),
        ] {
            if present {
                results.push((
                    kind,
                    AttemptResult::failed(FailureKind::Config, format!("the {kind} target is not implemented yet")),
                ));
            }
        }
        results
    }

    /// Runs until `shutdown` says stop: deliver what is due, then wait for a NOTIFY (new
    /// deliveries) or the poll interval (retries coming due), whichever is first.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => Some(listener),
                Err(err) => {
                    tracing::warn!(error = %err, "LISTEN failed; polling only");
                    None
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "no LISTEN connection; polling only");
                None
            }
        };
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(err) = self.deliver_due().await {
                tracing::error!(error = %err, "delivery pass failed");
            }
            let notified = async {
                match &mut listener {
                    Some(listener) => {
                        if listener.recv().await.is_err() {
                            tokio::time::sleep(poll).await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
