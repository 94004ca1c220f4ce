//! One delivery attempt's result and what follows from it: success, a retry after a delay, a
//! dead letter, or a skip. Failure kinds are a closed set so that records, metrics and
//! decisions agree on them; the customer-facing message travels beside the kind.

use std::time::Duration;

use super::retry::{next_delay, Failure};

pub use super::failure_kind::FailureKind;

/// What one attempt met.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    pub status_code: Option<u16>,
    /// `None` on success (a 2xx).
    pub failure: Option<(FailureKind, String)>,
    pub retry_after: Option<Duration>,
    /// The start of the response body, at most the configured cap.
    pub response_body: Option<String>,
    pub duration: Duration,
}

impl AttemptResult {
    /// Nothing was sent: the target cannot express the event.
    pub fn skipped(reason: &str) -> Self {
        AttemptResult {
            status_code: None,
            failure: None,
            retry_after: None,
            response_body: Some(format!("skipped: {reason}")),
            duration: Duration::ZERO,
        }
    }

    pub fn failed(kind: FailureKind, message: impl Into<String>) -> Self {
        AttemptResult {
            status_code: None,
            failure: Some((kind, message.into())),
            retry_after: None,
            response_body: None,
            duration: Duration::ZERO,
        }
    }

    /// What the attempt says of its destination, for the circuit breaker.
    pub fn health(&self) -> Health {
        let Some((kind, _)) = &self.failure else {
            return if self.status_code.is_some() {
                Health::Up
            } else {
                Health::Unknown
            };
        };
        match kind {
            FailureKind::Timeout
            | FailureKind::Dns
            | FailureKind::Connect
            | FailureKind::Tls
            | FailureKind::Request => Health::Down,
            FailureKind::Status | FailureKind::Rejected | FailureKind::Redirect => match self.status_code {
                Some(code) if code >= 500 || matches!(code, 408 | 429) => Health::Down,
                Some(_) => Health::Up,
                None => Health::Unknown,
            },
            FailureKind::ForbiddenAddress
            | FailureKind::Config
            | FailureKind::Unreadable
            | FailureKind::Interrupted => Health::Unknown,
        }
    }
}

/// What one attempt says of its destination, for the circuit breaker: whether it answered
/// like a service that is up, showed it is not, or said nothing about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It answered: a 2xx, or a status that is about the request (a 4xx other than 408 and
    /// 429, a redirect). Retrying such a request may not help, but sending others does no harm.
    Up,
    /// No answer in time, no connection or one dropped mid-exchange (`Request`: rarely, a
    /// request this side could not build, which every attempt would fail alike), or a status
    /// that says it cannot serve now (5xx, 408, 429).
    Down,
    /// Nothing was sent, or it failed on this side (a config, the network guard).
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Succeeded,
    RetryAfter(Duration),
    /// A dead letter. `disable_target` after a 410 Gone, or a destination down for longer
    /// than the whole schedule.
    Failed {
        reason: String,
        disable_target: bool,
    },
    /// The target cannot express the event: nothing was sent, nothing will be.
    Skipped(String),
}

/// Everything that decides what follows one attempt.
#[derive(Debug, Clone, Copy)]
pub struct AttemptFacts<'a> {
    pub result: &'a AttemptResult,
    /// Why nothing was sent, when the target cannot express the event.
    pub skipped: Option<&'a str>,
    /// The DeliveryPolicy's RetrySchedule.
    pub schedule: &'a [Duration],
    /// Attempts made so far, this one included.
    pub attempts_made: u32,
    /// Where in its ±20 % jitter a retry falls, in -1..=1.
    pub jitter: f64,
    /// When this attempt opened its target's circuit breaker: how long the destination has
    /// been found down.
    pub breaker_opened_after: Option<Duration>,
}

/// What follows an attempt, all things considered: a skip is a skip; a failure that opens the
/// breaker of a destination down for longer than the whole schedule gives the target up (any
/// delivery tried throughout would be a dead letter by now), as a 410 does; otherwise
/// [`decide`].
pub fn after(facts: AttemptFacts) -> Decision {
    if let Some(reason) = facts.skipped {
        return Decision::Skipped(reason.to_owned());
    }
    if let Some(down_for) = facts.breaker_opened_after {
        let schedule: Duration = facts.schedule.iter().sum();
        if !down_for.is_zero() && down_for >= schedule {
            return Decision::Failed {
                reason: format!(
                    "the destination has been down for {} s, longer than its whole RetrySchedule; its target is now disabled",
                    down_for.as_secs()
                ),
                disable_target: true,
            };
        }
    }
    decide(facts.result, facts.schedule, facts.attempts_made, facts.jitter)
}

/// Decides what follows `attempts_made` attempts, the last of which returned `result`.
pub fn decide(result: &AttemptResult, schedule: &[Duration], attempts_made: u32, jitter: f64) -> Decision {
    let Some((kind, message)) = &result.failure else {
        return Decision::Succeeded;
    };
    if result.status_code == Some(410) {
        return Decision::Failed {
            reason: "the destination answered 410 Gone; its target is now disabled".into(),
            disable_target: true,
        };
    }
    if kind.is_permanent() {
        return Decision::Failed {
            reason: message.clone(),
            disable_target: false,
        };
    }
    let failure = Failure {
        throttled: result.status_code == Some(429) || *kind == FailureKind::Timeout,
        retry_after: result.retry_after,
    };
    match next_delay(schedule, attempts_made, failure, jitter) {
        Some(delay) => Decision::RetryAfter(delay),
        None => Decision::Failed {
            reason: format!("gave up after {attempts_made} attempts; last: {message}"),
            disable_target: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(300)];

    fn facts(result: &AttemptResult) -> AttemptFacts<'_> {
        AttemptFacts {
            result,
            skipped: None,
            schedule: &SCHEDULE,
            attempts_made: 1,
            jitter: 0.0,
            breaker_opened_after: None,
        }
    }

    #[test]
    fn a_skip_is_a_skip_whatever_else_is_known() {
        let result = AttemptResult::skipped("no such event");
        let decision = after(AttemptFacts {
            skipped: Some("no such event"),
            ..facts(&result)
        });
        assert_eq!(decision, Decision::Skipped("no such event".into()));
    }

    #[test]
    fn a_breaker_opened_after_the_whole_schedule_gives_the_target_up() {
        let down = AttemptResult::failed(FailureKind::Connect, "refused");
        let at = |down_for: u64| {
            after(AttemptFacts {
                breaker_opened_after: Some(Duration::from_secs(down_for)),
                ..facts(&down)
            })
        };
        assert!(matches!(
            at(305),
            Decision::Failed {
                disable_target: true,
                ..
            }
        ));
        assert_eq!(at(304), decide(&down, facts(&down).schedule, 1, 0.0));
        assert_eq!(at(0), Decision::RetryAfter(Duration::from_secs(5)));
        assert_eq!(after(facts(&down)), Decision::RetryAfter(Duration::from_secs(5)));
    }

    #[test]
    fn each_failure_kind_reads_back_as_itself_and_serializes_as_its_name() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(FailureKind::parse("BodyTooLarge"), None);
    }

    fn status(code: u16) -> AttemptResult {
        AttemptResult {
            status_code: Some(code),
            failure: (!(200..300).contains(&code)).then(|| (FailureKind::Status, format!("status {code}"))),
            retry_after: None,
            response_body: None,
            duration: Duration::ZERO,
        }
    }

    fn schedule() -> Vec<Duration> {
        vec![Duration::from_secs(5), Duration::from_secs(300)]
    }

    #[test]
    fn success_retry_and_dead_letter() {
        assert_eq!(decide(&status(204), &schedule(), 1, 0.0), Decision::Succeeded);
        assert_eq!(
            decide(&status(500), &schedule(), 1, 0.0),
            Decision::RetryAfter(Duration::from_secs(5))
        );
        assert_eq!(
            decide(&status(500), &schedule(), 2, 0.0),
            Decision::RetryAfter(Duration::from_secs(300))
        );
        assert!(matches!(
            decide(&status(500), &schedule(), 3, 0.0),
            Decision::Failed {
                disable_target: false,
                ..
            }
        ));
    }

    #[test]
    fn gone_disables_and_throttling_waits_a_minute() {
        assert!(matches!(
            decide(&status(410), &schedule(), 1, 0.0),
            Decision::Failed {
                disable_target: true,
                ..
            }
        ));
        assert_eq!(
            decide(&status(429), &schedule(), 1, 0.0),
            Decision::RetryAfter(Duration::from_secs(60))
        );
        let timeout = AttemptResult::failed(FailureKind::Timeout, "timed out");
        assert_eq!(
            decide(&timeout, &schedule(), 1, 0.0),
            Decision::RetryAfter(Duration::from_secs(60))
        );
        let mut asked = status(503);
        asked.retry_after = Some(Duration::from_secs(90));
        assert_eq!(
            decide(&asked, &schedule(), 1, 0.0),
            Decision::RetryAfter(Duration::from_secs(90))
        );
    }

    #[test]
    fn vendor_rejections_are_not_retried() {
        let mut rejected = status(400);
        rejected.failure = Some((FailureKind::Rejected, "bad write key".into()));
        assert!(matches!(
            decide(&rejected, &schedule(), 1, 0.0),
            Decision::Failed {
                disable_target: false,
                ..
            }
        ));
    }

    #[test]
    fn health_tells_a_destination_that_is_down_from_a_request_it_refused() {
        assert_eq!(status(204).health(), Health::Up);
        assert_eq!(status(404).health(), Health::Up, "it answered");
        assert_eq!(status(503).health(), Health::Down);
        assert_eq!(status(429).health(), Health::Down);
        assert_eq!(status(408).health(), Health::Down);
        assert_eq!(AttemptResult::failed(FailureKind::Timeout, "t").health(), Health::Down);
        assert_eq!(AttemptResult::failed(FailureKind::Connect, "c").health(), Health::Down);
        let dropped = AttemptResult::failed(FailureKind::Request, "connection closed before message completed");
        assert_eq!(dropped.health(), Health::Down);
        assert_eq!(
            AttemptResult::failed(FailureKind::Config, "gone").health(),
            Health::Unknown
        );
        assert_eq!(AttemptResult::skipped("no such event").health(), Health::Unknown);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let forbidden = AttemptResult::failed(FailureKind::ForbiddenAddress, "private address");
        assert!(matches!(
            decide(&forbidden, &schedule(), 1, 0.0),
            Decision::Failed {
                disable_target: false,
                ..
            }
        ));
    }
}
