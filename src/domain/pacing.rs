//! Pacing (SPEC §6b): after a grant an instance rests for a while before the next one,
//! because a number that sends in bursts looks like a spammer to WhatsApp.
//!
//! The gap is `granted × min_interval_seconds × jitter`, with a jitter drawn in Rust (the
//! database draws nothing) and carried as whole thousandths, so the gap is a whole number
//! of milliseconds that SQL computes exactly as [`busy_until_millis`] does: see
//! [`busy_until_millis_sql`].

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::i18n::Msg;

/// The longest rest an instance may be given per message, in seconds (one hour).
pub const MAX_INTERVAL_SECONDS: i32 = 3600;

/// `min_interval_seconds`: 0 (no pacing) to [`MAX_INTERVAL_SECONDS`].
pub fn parse_min_interval(raw: i64) -> Result<i32, Msg> {
    match i32::try_from(raw) {
        Ok(seconds) if (0..=MAX_INTERVAL_SECONDS).contains(&seconds) => Ok(seconds),
        _ => Err(Msg::Between(0, i64::from(MAX_INTERVAL_SECONDS))),
    }
}

/// How much a rest is stretched or shrunk, so an instance's sends do not fall on a regular
/// beat: a factor from 0.8 to 1.2, in whole thousandths (800 to 1200 permille).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jitter(i32);

impl Jitter {
    /// The shortest factor, 0.8.
    pub const MIN_PERMILLE: i32 = 800;
    /// The longest factor, 1.2.
    pub const MAX_PERMILLE: i32 = 1200;
    /// No stretch at all: the factor 1.
    pub const NONE: Jitter = Jitter(1000);

    /// A factor of `permille` thousandths; `None` outside 800..=1200.
    pub fn from_permille(permille: i32) -> Option<Self> {
        (Self::MIN_PERMILLE..=Self::MAX_PERMILLE)
            .contains(&permille)
            .then_some(Self(permille))
    }

    /// A factor drawn uniformly from the 401 values 0.800, 0.801, … 1.200.
    pub fn draw(rng: &mut impl Rng) -> Self {
        Self(rng.gen_range(Self::MIN_PERMILLE..=Self::MAX_PERMILLE))
    }

    /// The factor in thousandths, as it is bound into a statement.
    pub fn permille(self) -> i32 {
        self.0
    }

    /// The factor: 0.8 to 1.2.
    pub fn factor(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

/// Until when an instance granted `granted` messages at `now_ms` (milliseconds since the
/// Unix epoch) rests, in milliseconds since the epoch:
/// `now_ms + granted × interval_seconds × jitter_permille`. Seconds times thousandths are
/// milliseconds, so this is integer arithmetic with nothing to round. Nothing granted, or
/// no interval, is no rest.
///
/// For what the rule stores (`granted >= 0`, `interval_seconds` in
/// 0..=[`MAX_INTERVAL_SECONDS`]) it is exactly [`busy_until_millis_sql`]; anything else is
/// clamped into that range first, so no input overflows.
pub fn busy_until_millis(now_ms: i64, granted: i32, interval_seconds: i32, jitter: Jitter) -> i64 {
    let granted = i64::from(granted.max(0));
    let interval = i64::from(interval_seconds.clamp(0, MAX_INTERVAL_SECONDS));
    // At most 2^31 × 3600 × 1200, below 2^54: far from overflowing.
    now_ms.saturating_add(granted * interval * i64::from(jitter.permille()))
}

/// [`busy_until_millis`] for an instant: the instance's `next_send_at` after a grant of
/// `granted` messages at `now`, to the millisecond (`now` is cut to its millisecond first,
/// as SQL would see it).
pub fn busy_until(
    now: DateTime<Utc>,
    granted: i32,
    interval_seconds: i32,
    jitter: Jitter,
) -> DateTime<Utc> {
    let millis = busy_until_millis(now.timestamp_millis(), granted, interval_seconds, jitter);
    DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// [`busy_until_millis`] as an SQL expression of type `BIGINT`, the same text on SQLite and
/// PostgreSQL, over SQL expressions for its four inputs (typically `now_ms` and the
/// permille bound, `granted` and the instance's interval from the row). The product is
/// taken in 64 bits from its first factor on, so no 32-bit product overflows.
pub fn busy_until_millis_sql(
    now_ms: &str,
    granted: &str,
    interval_seconds: &str,
    jitter_permille: &str,
) -> String {
    format!("({now_ms} + CAST({granted} AS BIGINT) * {interval_seconds} * {jitter_permille})")
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    #[test]
    fn a_grant_rests_the_instance_for_its_messages_times_the_interval() {
        let now = utc("2025-11-18T12:00:00Z");
        let jitter = |permille| Jitter::from_permille(permille).unwrap();
        assert_eq!(
            busy_until(now, 3, 60, Jitter::NONE),
            utc("2025-11-18T12:03:00Z")
        );
        assert_eq!(
            busy_until(now, 3, 60, jitter(800)),
            utc("2025-11-18T12:02:24Z")
        );
        assert_eq!(
            busy_until(now, 3, 60, jitter(1200)),
            utc("2025-11-18T12:03:36Z")
        );
        assert_eq!(
            busy_until(now, 1, 1, jitter(1001)),
            utc("2025-11-18T12:00:01.001Z")
        );
        assert_eq!(
            busy_until(now, 1000, MAX_INTERVAL_SECONDS, jitter(1200)),
            now + chrono::Duration::seconds(1000 * 3600 * 12 / 10)
        );
    }

    #[test]
    fn no_grant_or_no_interval_is_no_rest() {
        let now = utc("2025-11-18T12:00:00.123456Z");
        let cut = utc("2025-11-18T12:00:00.123Z");
        assert_eq!(busy_until(now, 0, 60, Jitter::NONE), cut);
        assert_eq!(busy_until(now, 5, 0, Jitter::NONE), cut);
        assert!(
            busy_until(now, 5, 0, Jitter::NONE) <= now,
            "not busy at `now`"
        );
    }

    #[test]
    fn out_of_range_inputs_are_clamped_and_never_overflow() {
        let j = Jitter::from_permille(1200).unwrap();
        assert_eq!(busy_until_millis(0, -5, 60, j), 0);
        assert_eq!(busy_until_millis(0, 1, -60, j), 0);
        assert_eq!(busy_until_millis(0, 1, i32::MAX, j), 3600 * 1200);
        assert_eq!(
            busy_until_millis(0, i32::MAX, i32::MAX, j),
            i64::from(i32::MAX) * 3600 * 1200
        );
        assert_eq!(busy_until_millis(i64::MAX - 1, 1, 1, j), i64::MAX);
        assert_eq!(
            busy_until(DateTime::<Utc>::MAX_UTC, i32::MAX, MAX_INTERVAL_SECONDS, j),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn jitter_stays_within_0_8_and_1_2_and_covers_them() {
        assert_eq!(Jitter::from_permille(799), None);
        assert_eq!(Jitter::from_permille(1201), None);
        assert_eq!(Jitter::from_permille(800).map(Jitter::factor), Some(0.8));
        assert_eq!(Jitter::NONE.factor(), 1.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(24);
        let drawn: Vec<i32> = (0..20_000)
            .map(|_| Jitter::draw(&mut rng).permille())
            .collect();
        assert!(drawn.iter().all(|p| (800..=1200).contains(p)));
        assert_eq!(drawn.iter().min(), Some(&800));
        assert_eq!(drawn.iter().max(), Some(&1200));
        let below_1000 = drawn.iter().filter(|p| **p < 1000).count();
        assert!(
            (9_000..=11_000).contains(&below_1000),
            "{below_1000} of 20000 below 1.0"
        );
    }

    #[test]
    fn intervals_are_0_to_an_hour() {
        assert_eq!(parse_min_interval(0), Ok(0));
        assert_eq!(parse_min_interval(3600), Ok(3600));
        for bad in [-1, 3601, i64::from(i32::MAX) + 1] {
            assert_eq!(parse_min_interval(bad), Err(Msg::Between(0, 3600)), "{bad}");
        }
    }

    #[test]
    fn the_sql_is_the_same_sum() {
        assert_eq!(
            busy_until_millis_sql("$1", "picked.granted", "w.min_interval_seconds", "$2"),
            "($1 + CAST(picked.granted AS BIGINT) * w.min_interval_seconds * $2)"
        );
    }
}
