//! Time, as the engine sees it. Production reads the system clock; tests hold a manual clock
//! and move it forward, so retry schedules are exercised without sleeping through them.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that stands still at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            Some(time) => *time.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Moves a manual clock forward; a system clock ignores it.
    pub fn advance(&self, by: std::time::Duration) {
        if let Some(time) = &self.manual {
            let mut time = time.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *time += Duration::from_std(by).unwrap_or(Duration::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.clone().advance(std::time::Duration::from_secs(5));
        assert_eq!((clock.now() - start).num_seconds(), 5);
    }
}
