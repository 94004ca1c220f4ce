//! One attempt at a delivery: render the target's request from the stored payload, send it,
//! take what it found into the target's circuit breaker, and decide what follows
//! ([`crate::domain::attempt::after`], a pure function) — as an [`Outcome`] for the recorder.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::breaker::Change;
use super::client::PreparedRequest;
use super::commerce::Rendered;
use super::{render, Dispatcher};
use crate::domain::attempt::{after, AttemptFacts, AttemptResult, Decision, FailureKind};
use crate::domain::delivery_config::DeliveryPolicy;
use crate::domain::hydration::with_tracking_event;
use crate::domain::targets::TargetKind;
use crate::storage::deliveries::{Claimed, Next, Outcome};
use crate::storage::delivery_configs::ConfigNow;

impl Dispatcher {
    /// Makes one attempt at a claimed delivery, with its DeliveryConfig as it is now (`None`
    /// when it was deleted), and takes what it found into the target's circuit breaker.
    pub(crate) async fn attempt(&self, mut delivery: Claimed, config: Option<&ConfigNow>) -> Outcome {
        let started_at = self.clock.now();
        let sent = tokio::time::Instant::now();
        // The payload is not recorded: it is moved into the request, not copied.
        let payload = std::mem::take(&mut delivery.payload.0);
        let default_policy = DeliveryPolicy::default();
        let policy = config.map_or(&default_policy, |c| &c.policy);
        let timeout = policy.timeout.min(self.settings.lease() / 2);
        let (result, skipped) = match self.prepare(&delivery, payload, config, started_at) {
            Ok((kind, Rendered::Request(request))) => (self.send(kind, &request, timeout).await, None),
            Ok((_, Rendered::Skip(reason))) => (AttemptResult::skipped(&reason), Some(reason)),
            Err(failure) => (failure, None),
        };
        let breaker = self.capacity.observe(&delivery.target_key(), result.health(), sent);
        let opened_after = match breaker {
            Some(Change::Opened { down_for, .. }) => Some(down_for),
            _ => None,
        };
        let decision = after(AttemptFacts {
            result: &result,
            skipped: skipped.as_deref(),
            schedule: &policy.retry_schedule,
            attempts_made: u32::try_from(delivery.attempts).unwrap_or(u32::MAX),
            jitter: rand::thread_rng().gen_range(-1.0..=1.0),
            breaker_opened_after: opened_after,
        });
        let next = match decision {
            Decision::Succeeded => Next::Succeeded,
            Decision::RetryAfter(delay) => {
                Next::RetryAt(self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX))
            }
            Decision::Failed { reason, disable_target } => Next::Failed { reason, disable_target },
            Decision::Skipped(reason) => Next::Skipped(reason),
        };
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
        let targets = config
            .targets
            .as_ref()
            .map_err(|invalid| config_error(invalid.clone()))?;
        let payload = with_tracking_event(payload, &delivery.tracking_event.0);
        render(targets, kind, &payload, delivery.id.as_str(), now)
            .map(|rendered| (kind, rendered))
            .map_err(|missing| config_error(format!("DeliveryConfig {} no longer has {missing}", config.id)))
    }

    /// Sends one request. A vendor API's 4xx (other than 408 and 429) means the request itself
    /// is refused, so it is marked permanent instead of being retried for days.
    pub(super) async fn send(&self, kind: TargetKind, request: &PreparedRequest, timeout: Duration) -> AttemptResult {
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
}
