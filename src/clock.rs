//! The one source of "now". Production uses the system clock; tests drive a
//! [`ManualClock`] so that daily resets can be checked without sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// The calendar date at this moment in `timezone`.
    fn today_in(&self, timezone: Tz) -> NaiveDate {
        self.now().with_timezone(&timezone).date_naive()
    }
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, instant: DateTime<Utc>) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = instant;
    }

    pub fn advance(&self, by: Duration) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn today_follows_the_timezone_not_utc() {
        // 03:30 UTC on the 18th is still the 17th in Bogotá (UTC-5).
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2025, 11, 18, 3, 30, 0).unwrap());
        let bogota: Tz = "America/Bogota".parse().unwrap();
        assert_eq!(clock.today_in(bogota).to_string(), "2025-11-17");
        assert_eq!(clock.today_in(Tz::UTC).to_string(), "2025-11-18");
        clock.advance(Duration::hours(2));
        assert_eq!(clock.today_in(bogota).to_string(), "2025-11-18");
    }
}
