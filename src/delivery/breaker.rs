//! The circuit breaker of one target, as this process sees it. After `failures` attempts in a
//! row find the destination down (timeouts, dropped connections, 5xx, 408, 429), the breaker
//! opens: nothing is sent to the target for `open_for`, and its new deliveries wait in the
//! queue, their attempts unspent. Then it lets one request through (half-open): if that finds
//! the destination up, the breaker closes and the queue drains; if not, it opens again for
//! twice as long, up to `max_open_for`. A destination that is down then costs a probe now and
//! then instead of a full set of requests that each hold a slot until they time out, and the
//! work of the healthy targets around it is left alone.
//!
//! The deliveries held back keep their schedules unspent, so an outage does not turn them
//! into dead letters by itself. What ends a long one is a probe: once the breaker has been
//! open for longer than the DeliveryPolicy's whole RetrySchedule (by then every delivery tried
//! throughout would have been a dead letter), a failed probe disables the target and announces
//! it to the ErrorConfig, as a 410 does (`Dispatcher::attempt`). Its held deliveries then fail
//! as sent to a disabled target, and `recover` brings them back.

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
    /// Nothing is sent before `until`; then one probe. Open since `since`.
    Open {
        until: Instant,
        open_for: Duration,
        since: Instant,
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
    /// Opened for `open_for`; the destination has been down for `down_for` (zero when it
    /// just opened, longer after a failed probe).
    Opened {
        open_for: Duration,
        down_for: Duration,
    },
    Closed,
}

impl Allows {
    /// The requests it allows in flight to a target whose cap is `max`.
    pub fn cap(self, max: u32) -> u32 {
        match self {
            Allows::All => max,
            Allows::One => max.min(1),
            Allows::None => 0,
        }
    }
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

    /// When the probe is due, while it is open.
    pub fn probe_at(&self) -> Option<Instant> {
        match self {
            Breaker::Closed { .. } => None,
            Breaker::Open { until, .. } => Some(*until),
        }
    }

    /// Whether it is closed with no failures in a row: nothing worth keeping.
    pub fn is_clear(&self) -> bool {
        *self == Breaker::Closed { failures: 0 }
    }

    /// Takes the finding of an attempt sent at `sent`. A request sent before the probe was
    /// due that fails (it went out before the breaker opened, and may end long after) changes
    /// nothing; the probe's failure opens it for longer.
    pub fn observe(&mut self, health: Health, sent: Instant, now: Instant, policy: &BreakerPolicy) -> Option<Change> {
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
                Some(self.open(now, policy.open_for, now))
            }
            (Health::Down, Breaker::Open { until, open_for, since }) => {
                if sent < *until {
                    return None;
                }
                let longer = (*open_for * 2).min(policy.max_open_for);
                Some(self.open(now, longer, *since))
            }
        }
    }

    fn open(&mut self, now: Instant, open_for: Duration, since: Instant) -> Change {
        *self = Breaker::Open {
            until: now + open_for,
            open_for,
            since,
        };
        Change::Opened {
            open_for,
            down_for: now - since,
        }
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

    /// An attempt sent and finished at `at`.
    fn observe(breaker: &mut Breaker, health: Health, at: Instant) -> Option<Change> {
        breaker.observe(health, at, at, &POLICY)
    }

    fn opened(breaker: &mut Breaker, t0: Instant) {
        for _ in 0..POLICY.failures {
            observe(breaker, Health::Down, t0);
        }
    }

    #[test]
    fn opens_after_failures_in_a_row_and_not_before() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        assert_eq!(observe(&mut breaker, Health::Down, t0), None);
        assert_eq!(observe(&mut breaker, Health::Down, t0), None);
        assert_eq!(breaker.allows(t0), Allows::All);
        assert_eq!(
            observe(&mut breaker, Health::Down, t0),
            Some(Change::Opened {
                open_for: Duration::from_secs(5),
                down_for: Duration::ZERO,
            })
        );
        assert_eq!(breaker.allows(after(t0, 4)), Allows::None);
        assert_eq!(breaker.allows(after(t0, 5)), Allows::One, "half-open: one probe");
        assert_eq!(breaker.probe_at(), Some(after(t0, 5)));
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        observe(&mut breaker, Health::Down, t0);
        observe(&mut breaker, Health::Down, t0);
        observe(&mut breaker, Health::Up, t0);
        assert!(breaker.is_clear());
        observe(&mut breaker, Health::Down, t0);
        observe(&mut breaker, Health::Unknown, t0);
        observe(&mut breaker, Health::Down, t0);
        assert_eq!(
            breaker.allows(t0),
            Allows::All,
            "two in a row; unknown counts for nothing"
        );
    }

    #[test]
    fn a_failed_probe_opens_it_for_twice_as_long_up_to_the_maximum() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        opened(&mut breaker, t0);
        // Requests sent before the probe was due do not extend it, even ending after that.
        assert_eq!(breaker.observe(Health::Down, t0, after(t0, 1), &POLICY), None);
        assert_eq!(breaker.observe(Health::Down, after(t0, 4), after(t0, 9), &POLICY), None);
        assert_eq!(breaker.allows(after(t0, 9)), Allows::One);
        assert_eq!(
            breaker.observe(Health::Down, after(t0, 9), after(t0, 10), &POLICY),
            Some(Change::Opened {
                open_for: Duration::from_secs(10),
                down_for: Duration::from_secs(10),
            }),
            "the probe failed"
        );
        assert_eq!(breaker.allows(after(t0, 19)), Allows::None);
        assert_eq!(breaker.allows(after(t0, 20)), Allows::One);
        assert_eq!(
            observe(&mut breaker, Health::Down, after(t0, 20)),
            Some(Change::Opened {
                open_for: Duration::from_secs(12),
                down_for: Duration::from_secs(20),
            }),
            "capped, and down since it first opened"
        );
    }

    #[test]
    fn a_probe_that_finds_the_destination_up_closes_it() {
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        opened(&mut breaker, t0);
        assert_eq!(observe(&mut breaker, Health::Up, after(t0, 5)), Some(Change::Closed));
        assert_eq!(breaker.allows(after(t0, 5)), Allows::All);
        assert!(breaker.is_clear());
        assert_eq!(breaker.probe_at(), None);
    }

    #[test]
    fn a_policy_of_no_failures_never_opens() {
        let policy = BreakerPolicy { failures: 0, ..POLICY };
        let (mut breaker, t0) = (Breaker::default(), Instant::now());
        for _ in 0..100 {
            assert_eq!(breaker.observe(Health::Down, t0, t0, &policy), None);
        }
        assert_eq!(breaker.allows(t0), Allows::All);
    }
}
