//! The circuit breaker of one target, as this process sees it. After `failures` attempts in a
//! row find the destination down (timeouts, refused connections, 5xx, 429), the breaker
//! opens: nothing is sent to the target for `open_for`, and its new deliveries wait in the
//! queue, their attempts unspent. Then it lets one request through (half-open): if that finds
//! the destination up, the breaker closes and the queue drains; if not, it opens again for
//! twice as long, up to `max_open_for`. A destination that is down then costs a probe now and
//! then instead of a full set of requests that each hold a slot until they time out, and the
//! work of the healthy targets around it is left alone.
//!
//! Retries are still governed by each delivery's schedule, and a long outage still ends in
//! dead letters announced to the ErrorConfig; the breaker only stops sending into a
//! destination known to be down.

use std::time::Duration;

use tokio::time::Instant;

use crate::domain::attempt::Health;

/// When a breaker opens and for how long (`delivery.breaker_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BreakerPolicy {
    /// Attempts in a row that find the destination down before the breaker opens; 0 never.
    pub failures: u32,
    /// How long it first stays open.
    pub open_for: Duration,
    /// The longest it stays open, however often its probes fail.
    pub max_open_for: Duration,
}

/// One target's breaker. A target without one is closed with no failures in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Breaker {
    Closed {
        failures: u32,
    },
    /// Nothing is sent before `until`; then one probe.
    Open {
        until: Instant,
        open_for: Duration,
    },
}

/// How many requests a breaker lets be in flight to its target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allows {
    /// As many as the target's `MaxInFlight`.
    All,
    /// One probe (half-open).
    One,
    None,
}

/// What an outcome did to a breaker, worth telling the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Opened { open_for: Duration },
    Closed,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::Closed { failures: 0 }
    }
}

impl Breaker {
    pub fn allows(&self, now: Instant) -> Allows {
        match self {
            Breaker::Closed { .. } => Allows::All,
            Breaker::Open { until, .. } if now < *until => Allows::None,
            Breaker::Open { .. } => Allows::One,
        }
    }

    /// Whether it is closed with no failures in a row: nothing worth keeping.
    pub fn is_clear(&self) -> bool {
        *self == Breaker::Closed { failures: 0 }
    }

    /// Takes an attempt's finding. A request that went out before the breaker opened and
    /// fails while it is open changes nothing; the probe's failure opens it for longer.
    pub fn observe(&mut self, health: Health, now: Instant, policy: &BreakerPolicy) -> Option<Change> {
        match (health, &*self) {
            (Health::Unknown, _) => None,
            (Health::Up, Breaker::Closed { .. }) => {
                *self = Breaker::default();
                None
            }
            (Health::Up, Breaker::Open { .. }) => {
                *self = Breaker::default();
                Some(Change::Closed)
            }
            (Health::Down, Breaker::Closed { failures }) => {
                let failures = failures + 1;
                if policy.failures == 0 || failures < policy.failures {
                    *self = Breaker::Closed { failures };
                    return None;
                }
                Some(self.open(now, policy.open_for))
            }
            (Health::Down, Breaker::Open { until, open_for }) => {
                if now < *until {
                    return None;
                }
                let longer = (*open_for * 2).min(policy.max_open_for);
                Some(self.open(now, longer))
            }
        }
    }

    fn open(&mut self, now: Instant, open_for: Duration) -> Change {
        *self = Breaker::Open {
            until: now + open_for,
            open_for,
        };
        Change::Opened { open_for }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        failures: 3,
        open_for: Duration::from_secs(5),
        max_open_for: Duration::from_secs(12),
    };

    fn after(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn opens_after_failures_in_a_row_and_not_before() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        assert_eq!(breaker.observe(Health::Down, t0, &POLICY), None);
        assert_eq!(breaker.observe(Health::Down, t0, &POLICY), None);
        assert_eq!(breaker.allows(t0), Allows::All);
        assert_eq!(
            breaker.observe(Health::Down, t0, &POLICY),
            Some(Change::Opened {
                open_for: Duration::from_secs(5)
            })
        );
        assert_eq!(breaker.allows(after(t0, 4)), Allows::None);
        assert_eq!(breaker.allows(after(t0, 5)), Allows::One, "half-open: one probe");
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        breaker.observe(Health::Down, t0, &POLICY);
        breaker.observe(Health::Down, t0, &POLICY);
        breaker.observe(Health::Up, t0, &POLICY);
        assert!(breaker.is_clear());
        breaker.observe(Health::Down, t0, &POLICY);
        breaker.observe(Health::Unknown, t0, &POLICY);
        breaker.observe(Health::Down, t0, &POLICY);
        assert_eq!(
            breaker.allows(t0),
            Allows::All,
            "two in a row; unknown counts for nothing"
        );
    }

    #[test]
    fn a_failed_probe_opens_it_for_twice_as_long_up_to_the_maximum() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        for _ in 0..3 {
            breaker.observe(Health::Down, t0, &POLICY);
        }
        // Requests sent before it opened, failing now, do not extend it.
        assert_eq!(breaker.observe(Health::Down, after(t0, 1), &POLICY), None);
        assert_eq!(breaker.allows(after(t0, 5)), Allows::One);
        assert_eq!(
            breaker.observe(Health::Down, after(t0, 6), &POLICY),
            Some(Change::Opened {
                open_for: Duration::from_secs(10)
            })
        );
        assert_eq!(breaker.allows(after(t0, 15)), Allows::None);
        assert_eq!(breaker.allows(after(t0, 16)), Allows::One);
        assert_eq!(
            breaker.observe(Health::Down, after(t0, 16), &POLICY),
            Some(Change::Opened {
                open_for: Duration::from_secs(12)
            }),
            "capped"
        );
    }

    #[test]
    fn a_probe_that_finds_the_destination_up_closes_it() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        for _ in 0..3 {
            breaker.observe(Health::Down, t0, &POLICY);
        }
        assert_eq!(breaker.observe(Health::Up, after(t0, 5), &POLICY), Some(Change::Closed));
        assert_eq!(breaker.allows(after(t0, 5)), Allows::All);
        assert!(breaker.is_clear());
    }

    #[test]
    fn a_policy_of_no_failures_never_opens() {
        let policy = BreakerPolicy { failures: 0, ..POLICY };
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        for _ in 0..100 {
            assert_eq!(breaker.observe(Health::Down, t0, &policy), None);
        }
        assert_eq!(breaker.allows(t0), Allows::All);
    }
}
