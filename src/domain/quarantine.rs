//! Quarantine (SPEC §6b): an instance WhatsApp bans, or whose sends keep failing, is set
//! aside so claims stop handing it out, for longer each time it happens again that day.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// How many consecutive instance failures of sends through Relevo quarantine an instance
/// when `RELEVO_QUARANTINE_AFTER_FAILURES` is not set.
pub const DEFAULT_AFTER_FAILURES: u32 = 3;

/// The first quarantine of a day, in seconds: 15 minutes.
pub const FIRST_SECONDS: i64 = 15 * 60;

/// The longest quarantine that ends by itself, in seconds: 24 hours.
pub const LONGEST_SECONDS: i64 = 24 * 60 * 60;

/// Why an instance is quarantined, which decides whether it ends by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Sends through Relevo failed [`DEFAULT_AFTER_FAILURES`] (or the configured number
    /// of) times in a row: it ends by itself.
    Failures,
    /// WhatsApp banned the number (`statusReason` 403): only an admin lifts it.
    Ban,
}

/// Whether the failure that brought an instance's run of consecutive failures to
/// `consecutive_failures` quarantines it, with `after_failures` configured (at least 1; a
/// smaller setting reads as 1).
pub fn is_due(consecutive_failures: u32, after_failures: u32) -> bool {
    consecutive_failures >= after_failures.max(1)
}

/// How many times an instance was quarantined earlier on `today` (tenant-local), from the
/// stored count and the date it belongs to: another day's count does not hold today. A
/// stored date ahead of today (the tenant's zone moved west) still owns its count, as for
/// the daily quota ([`crate::domain::DailyUsage`]), so a zone change never resets it.
pub fn quarantines_today(counted_on: Option<NaiveDate>, counted: u32, today: NaiveDate) -> u32 {
    match counted_on {
        Some(date) if date >= today => counted,
        _ => 0,
    }
}

/// How long the next quarantine of an instance lasts, given how many it already had today
/// (tenant-local): 15 minutes for the first, doubling with each new one (30 min, 1 h, 2 h,
/// … 16 h), capped at 24 hours from the eighth on.
pub fn next_quarantine(quarantines_today: u32) -> Duration {
    let seconds = 1_i64
        .checked_shl(quarantines_today)
        .and_then(|factor| FIRST_SECONDS.checked_mul(factor))
        .filter(|seconds| (FIRST_SECONDS..=LONGEST_SECONDS).contains(seconds))
        .unwrap_or(LONGEST_SECONDS);
    Duration::seconds(seconds)
}

/// The `quarantined_until` of an instance quarantined at `now` for `cause`, after
/// `quarantines_today` earlier ones today; `None` for a ban, which has no end until an
/// admin lifts it.
pub fn quarantined_until(
    now: DateTime<Utc>,
    cause: Cause,
    quarantines_today: u32,
) -> Option<DateTime<Utc>> {
    match cause {
        Cause::Ban => None,
        Cause::Failures => Some(
            now.checked_add_signed(next_quarantine(quarantines_today))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_quarantine_of_a_day_doubles_up_to_a_day() {
        let minutes: Vec<i64> = (0..10).map(|n| next_quarantine(n).num_minutes()).collect();
        assert_eq!(minutes, [15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]);
        for n in [31, 32, 63, 64, 65, u32::MAX] {
            assert_eq!(next_quarantine(n), Duration::hours(24), "{n}");
        }
    }

    #[test]
    fn a_ban_has_no_end_and_failures_do() {
        let now: DateTime<Utc> = "2025-11-18T12:00:00Z".parse().unwrap();
        assert_eq!(quarantined_until(now, Cause::Ban, 0), None);
        assert_eq!(
            quarantined_until(now, Cause::Failures, 0),
            Some("2025-11-18T12:15:00Z".parse().unwrap())
        );
        assert_eq!(
            quarantined_until(now, Cause::Failures, 2),
            Some("2025-11-18T13:00:00Z".parse().unwrap())
        );
        assert_eq!(
            quarantined_until(DateTime::<Utc>::MAX_UTC, Cause::Failures, 0),
            Some(DateTime::<Utc>::MAX_UTC),
            "an end past the calendar is still an end"
        );
    }

    #[test]
    fn the_third_failure_in_a_row_quarantines_by_default() {
        assert!(!is_due(2, DEFAULT_AFTER_FAILURES));
        assert!(is_due(3, DEFAULT_AFTER_FAILURES));
        assert!(is_due(4, DEFAULT_AFTER_FAILURES));
        assert!(is_due(1, 1));
        assert!(is_due(1, 0), "a setting of 0 reads as 1");
        assert!(!is_due(0, 0));
    }

    #[test]
    fn yesterdays_quarantines_do_not_count_today() {
        let date = |raw: &str| raw.parse::<NaiveDate>().unwrap();
        let today = date("2025-11-18");
        assert_eq!(quarantines_today(None, 0, today), 0);
        assert_eq!(quarantines_today(Some(date("2025-11-17")), 4, today), 0);
        assert_eq!(quarantines_today(Some(today), 4, today), 4);
        assert_eq!(quarantines_today(Some(date("2025-11-19")), 2, today), 2);
    }
}
