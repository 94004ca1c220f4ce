//! When the next attempt happens. A pure function of the policy's schedule, what the last
//! attempt met, and a jitter draw, so it is tested without clocks or sleeps.

use std::time::Duration;

/// Jitter spreads retries of many deliveries that failed together: ±20 %.
pub const JITTER: f64 = 0.2;
/// 429s and timeouts wait at least this long: the destination is struggling.
pub const THROTTLE_FLOOR: Duration = Duration::from_secs(60);
/// A `Retry-After` longer than this is clamped to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What the last failed attempt tells the schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Failure {
    /// The destination asked us to back off (429) or did not answer in time.
    pub throttled: bool,
    /// The destination's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

/// The delay before the next attempt after `attempts_made` attempts (≥ 1) have failed, or
/// `None` when the schedule is spent. `jitter` is a draw from [-1, 1].
pub fn next_delay(schedule: &[Duration], attempts_made: u32, failure: Failure, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
    let base = *schedule.get(index)?;
    let mut delay = base.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0));
    if failure.throttled {
        delay = delay.max(THROTTLE_FLOOR);
    }
    if let Some(retry_after) = failure.retry_after {
        delay = delay.max(retry_after.min(MAX_RETRY_AFTER));
    }
    Some(delay)
}

/// Parses a `Retry-After` header: delay seconds, or an HTTP date (a date already past means
/// no wait). `now` is the wall-clock time the response arrived.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((date.to_utc() - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_or_as_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T08:49:37Z")
            .unwrap()
            .to_utc();
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 22 Nov 2026 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(retry_after("Sun, 22 Nov 2026 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
    use crate::domain::delivery_config::DeliveryPolicy;

    fn schedule() -> Vec<Duration> {
        DeliveryPolicy::default().retry_schedule
    }

    #[test]
    fn follows_the_standard_webhooks_schedule_without_jitter() {
        let delays: Vec<u64> = (1..=9)
            .map(|n| next_delay(&schedule(), n, Failure::default(), 0.0).unwrap().as_secs())
            .collect();
        assert_eq!(delays, [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]);
        assert_eq!(next_delay(&schedule(), 10, Failure::default(), 0.0), None);
        assert_eq!(next_delay(&schedule(), 0, Failure::default(), 0.0), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let low = next_delay(&schedule(), 2, Failure::default(), -1.0).unwrap();
        let high = next_delay(&schedule(), 2, Failure::default(), 1.0).unwrap();
        assert_eq!((low.as_secs(), high.as_secs()), (240, 360));
        let wild = next_delay(&schedule(), 2, Failure::default(), 7.0).unwrap();
        assert_eq!(wild.as_secs(), 360);
    }

    #[test]
    fn throttling_and_retry_after_stretch_the_delay() {
        let throttled = Failure {
            throttled: true,
            retry_after: None,
        };
        assert_eq!(next_delay(&schedule(), 1, throttled, 0.0).unwrap(), THROTTLE_FLOOR);
        let asked = Failure {
            throttled: true,
            retry_after: Some(Duration::from_secs(120)),
        };
        assert_eq!(next_delay(&schedule(), 1, asked, 0.0).unwrap().as_secs(), 120);
        let greedy = Failure {
            throttled: false,
            retry_after: Some(Duration::from_secs(10 * 24 * 3600)),
        };
        assert_eq!(next_delay(&schedule(), 1, greedy, 0.0).unwrap(), MAX_RETRY_AFTER);
        // A Retry-After shorter than the schedule does not shorten it.
        let short = Failure {
            throttled: false,
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(next_delay(&schedule(), 2, short, 0.0).unwrap().as_secs(), 300);
    }
}
