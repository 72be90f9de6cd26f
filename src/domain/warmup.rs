//! Warm-up (SPEC §6b): a new number sends little at first and more each day, on a
//! geometric ramp from its start limit to its daily limit, because a fresh number that
//! sends its full quota on day one is the first to be banned.
//!
//! The ramp is stated once, here ([`effective_limit`]); [`warmup_limit_sql`] renders the
//! same arithmetic for PostgreSQL, and a unit test in `db` runs it on a real server over a
//! grid and compares it with this module, value for value (`db::number_health`).

use chrono::NaiveDate;

use crate::domain::DailyLimit;
use crate::i18n::Msg;

/// An instance's warm-up plan: for `days` days from `started_on` (a tenant-local date, the
/// day the plan was set) its limit climbs from `start_limit` to its daily limit. A plan of
/// 0 days is no plan. Made by [`WarmupPlan::new`], so every value in it is in range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarmupPlan {
    days: u16,
    start_limit: i32,
    started_on: NaiveDate,
}

impl WarmupPlan {
    /// The longest warm-up an admin may set, in days.
    pub const MAX_DAYS: u16 = 60;
    /// The limit of day 1 when the admin names none (SPEC: `warmup_start_limit` default 20).
    pub const DEFAULT_START_LIMIT: i32 = 20;

    /// `warmup_days`: 0 (no warm-up) to [`MAX_DAYS`](Self::MAX_DAYS).
    pub fn parse_days(raw: i64) -> Result<u16, Msg> {
        match u16::try_from(raw) {
            Ok(days) if days <= Self::MAX_DAYS => Ok(days),
            _ => Err(Msg::Between(0, i64::from(Self::MAX_DAYS))),
        }
    }

    /// `warmup_start_limit`: 1 to [`DailyLimit::MAX`]. Zero or less is refused, not
    /// clamped: a ramp cannot start from nothing (it would divide by zero), and a number
    /// that may send nothing is what `is_active = false` is for.
    pub fn parse_start_limit(raw: i64) -> Result<i32, Msg> {
        match i32::try_from(raw) {
            Ok(start) if (1..=DailyLimit::MAX).contains(&raw) => Ok(start),
            _ => Err(Msg::Between(1, DailyLimit::MAX)),
        }
    }

    /// A plan from the raw `warmup_days` and `warmup_start_limit`, starting on
    /// `started_on`; each rejected value comes back with its field's name.
    pub fn new(
        days: i64,
        start_limit: i64,
        started_on: NaiveDate,
    ) -> Result<Self, Vec<(&'static str, Msg)>> {
        let days = Self::parse_days(days).map_err(|msg| ("warmup_days", msg));
        let start_limit =
            Self::parse_start_limit(start_limit).map_err(|msg| ("warmup_start_limit", msg));
        match (days, start_limit) {
            (Ok(days), Ok(start_limit)) => Ok(Self {
                days,
                start_limit,
                started_on,
            }),
            (days, start_limit) => Err([days.err(), start_limit.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    /// How many days the ramp lasts; 0: no warm-up.
    pub fn days(&self) -> u16 {
        self.days
    }

    /// The limit of day 1.
    pub fn start_limit(&self) -> i32 {
        self.start_limit
    }

    /// The tenant-local date the plan was set: its day 1.
    pub fn started_on(&self) -> NaiveDate {
        self.started_on
    }

    /// The plan's day number on `today` (tenant-local), counted from 1: a date before
    /// `started_on` (the tenant's time zone moved west) counts as day 1. `None` once the
    /// plan is over (after day `days`: the daily limit holds, as for an instance without a
    /// plan) and for a plan of 0 days. What the instance views show as `warmup.day`.
    pub fn day(&self, today: NaiveDate) -> Option<u16> {
        let day = plan_day(self.started_on, today);
        (day <= i64::from(self.days)).then_some(day as u16)
    }
}

/// The plan's day on `today`, from 1, unbounded above.
fn plan_day(started_on: NaiveDate, today: NaiveDate) -> i64 {
    (today - started_on).num_days().max(0) + 1
}

/// [`WarmupPlan::day`] of an instance that may have no plan: `None` without one.
pub fn day(plan: Option<&WarmupPlan>, today: NaiveDate) -> Option<u16> {
    plan.and_then(|plan| plan.day(today))
}

/// The limit an instance may send on `today` (tenant-local): its `daily_limit`, held down
/// by its warm-up plan while the plan runs. Every quota figure uses it
/// (`effective_daily_limit`).
///
/// On day `d` of a plan of `days` days starting at `start`:
/// `min(daily_limit, floor(start × (daily_limit / start)^((d − 1) / (days − 1)) + 0.5))`,
/// in `f64`, in that order of operations. So day 1 is `start` and day `days` is the daily
/// limit. The rest:
/// - day `days` and after, and a plan of 0 days: the daily limit;
/// - a plan of 1 day is over on its first day: the daily limit from day 1 (the ramp
///   reaches the full limit on day `days`; holding a number back for one day takes
///   `days = 2`);
/// - a date before `started_on` is day 1;
/// - `start >= daily_limit`: the daily limit (the ramp never exceeds it).
///
/// Rounding is `floor(x + 0.5)`: half up, which for these positive values is half away
/// from zero. It is written that way, not as a `round`, because PostgreSQL's
/// `ROUND(double precision)` rounds half to even; `FLOOR(x + 0.5)` is the same in both.
pub fn effective_limit(daily_limit: i32, plan: Option<&WarmupPlan>, today: NaiveDate) -> i32 {
    let Some(plan) = plan else {
        return daily_limit;
    };
    let day = plan_day(plan.started_on, today);
    let days = i64::from(plan.days);
    if days <= 1 || day >= days || plan.start_limit >= daily_limit {
        return daily_limit;
    }
    let start = f64::from(plan.start_limit);
    let ratio = f64::from(daily_limit) / start;
    let exponent = (day - 1) as f64 / (days - 1) as f64;
    let ramp = (start * ratio.powf(exponent) + 0.5).floor();
    // Between `start` and `daily_limit`: in range of i32.
    daily_limit.min(ramp as i32)
}

/// [`effective_limit`] as a PostgreSQL expression of type `integer`, over SQL expressions
/// for the daily limit, the plan's `days` (0 without a plan), its start limit and the
/// plan's day number on the tenant's date (`today - warmup_started_on + 1` for `DATE`s;
/// below 1 counts as 1). Floating point throughout, in Rust's order of operations, with
/// `FLOOR(x + 0.5)` for the rounding. The start limit must be at least 1 (a `CHECK`, as
/// [`WarmupPlan::parse_start_limit`]) unless the plan is off.
///
/// SQLite has no `POWER` (the bundled build leaves out its math functions); there, the
/// rule is best given to SQL as a function registered on each connection that calls
/// [`effective_limit`], rather than as a second copy of the arithmetic.
pub fn warmup_limit_sql(daily_limit: &str, days: &str, start_limit: &str, day: &str) -> String {
    format!(
        "CASE WHEN {days} <= 1 OR {day} >= {days} OR {start_limit} >= {daily_limit} \
         THEN {daily_limit} \
         ELSE LEAST({daily_limit}, CAST(FLOOR({start_limit} * POWER(\
         CAST({daily_limit} AS DOUBLE PRECISION) / {start_limit}, \
         CAST(GREATEST({day}, 1) - 1 AS DOUBLE PRECISION) / ({days} - 1)) \
         + CAST(0.5 AS DOUBLE PRECISION)) AS INTEGER)) END"
    )
}

#[cfg(test)]
mod tests {
    use chrono::Days;

    use super::*;

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    fn plan(days: i64, start: i64) -> WarmupPlan {
        WarmupPlan::new(days, start, date("2025-11-01")).unwrap()
    }

    /// The limit on day `d` of `plan` (day 0: the day before it started).
    fn on_day(daily_limit: i32, plan: &WarmupPlan, d: u64) -> i32 {
        let today = match d {
            0 => plan.started_on() - Days::new(1),
            d => plan.started_on() + Days::new(d - 1),
        };
        effective_limit(daily_limit, Some(plan), today)
    }

    #[test]
    fn the_ramp_climbs_geometrically_from_start_to_the_limit() {
        let ramp = plan(7, 20);
        let limits: Vec<i32> = (1..=9).map(|d| on_day(1000, &ramp, d)).collect();
        // 20 × 50^((d-1)/6): 20, 38.3, 73.7, 141.4, 271.4, 521.0, 1000.
        assert_eq!(limits, [20, 38, 74, 141, 271, 521, 1000, 1000, 1000]);
        assert_eq!(
            on_day(1000, &ramp, 0),
            20,
            "a date before the plan is day 1"
        );
    }

    #[test]
    fn the_ramp_never_exceeds_the_limit_and_only_climbs() {
        for daily_limit in [1, 2, 7, 20, 21, 100, 999, 100_000] {
            for start in [1, 2, 19, 20, 21, 500, 100_000] {
                for days in 0..=60 {
                    let ramp = plan(days, start);
                    let mut before = 0;
                    for d in 0..=days as u64 + 2 {
                        let limit = on_day(daily_limit, &ramp, d);
                        assert!(
                            limit <= daily_limit && limit >= before && limit >= 1,
                            "limit {daily_limit}, start {start}, days {days}, day {d}: {limit}"
                        );
                        before = limit;
                    }
                    assert_eq!(on_day(daily_limit, &ramp, days as u64), daily_limit);
                    if days >= 2 {
                        assert_eq!(
                            on_day(daily_limit, &ramp, 1),
                            start.min(daily_limit as i64) as i32
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn edge_plans_give_the_daily_limit() {
        let today = date("2025-11-01");
        assert_eq!(effective_limit(300, None, today), 300);
        assert_eq!(
            effective_limit(300, Some(&plan(0, 20)), today),
            300,
            "0 days: off"
        );
        assert_eq!(
            effective_limit(300, Some(&plan(1, 20)), today),
            300,
            "1 day: over"
        );
        assert_eq!(effective_limit(300, Some(&plan(10, 300)), today), 300);
        assert_eq!(effective_limit(300, Some(&plan(10, 5000)), today), 300);
        assert_eq!(on_day(300, &plan(2, 20), 1), 20);
        assert_eq!(on_day(300, &plan(2, 20), 2), 300);
    }

    #[test]
    fn rounding_is_floor_of_x_plus_a_half() {
        // 4 × (9/4)^(1/2) = 6 exactly, and stays 6.
        assert_eq!(on_day(9, &plan(3, 4), 2), 6);
        // 5 × (503/5)^(9/11) = 217.499999999…: down, by the closest margin of the grid below.
        assert_eq!(on_day(503, &plan(12, 5), 10), 217);
        // 5 × (503/5)^(1/11) = 7.6…: up.
        assert_eq!(on_day(503, &plan(12, 5), 2), 8);
    }

    /// A ramp value that lies within a few units in the last place of a half would round
    /// one way here and maybe the other way on a server whose `pow` differs in its last
    /// bit. Over this grid none comes close, so the SQL copy rounds as Rust does on any
    /// libm accurate to a thousand ULPs, not only on the one the database test used.
    #[test]
    fn no_ramp_value_of_the_grid_sits_on_a_rounding_edge() {
        let mut closest = (f64::MAX, (0, 0, 0, 0));
        for daily_limit in (1..=1000).chain([5000, 100_000]) {
            for start in [1, 2, 3, 5, 10, 20, 50, 100, 500] {
                if start >= daily_limit {
                    continue;
                }
                for days in 2..=60 {
                    for d in 2..days {
                        let ratio = f64::from(daily_limit) / f64::from(start);
                        let exponent = f64::from(d - 1) / f64::from(days - 1);
                        let x = f64::from(start) * ratio.powf(exponent);
                        let margin = ((x - x.floor()) - 0.5).abs() / x;
                        if margin < closest.0 {
                            closest = (margin, (daily_limit, start, days, d));
                        }
                    }
                }
            }
        }
        // A relative 2^-52 is one ULP; this is more than 4 000 of them.
        assert!(closest.0 > 1e-12, "{closest:?}");
    }

    #[test]
    fn the_plans_day_counts_from_one_and_ends() {
        let ramp = plan(3, 20);
        let started = ramp.started_on();
        assert_eq!(ramp.day(started - Days::new(2)), Some(1));
        assert_eq!(ramp.day(started), Some(1));
        assert_eq!(ramp.day(started + Days::new(2)), Some(3));
        assert_eq!(
            ramp.day(started + Days::new(3)),
            None,
            "over: the limit holds"
        );
        assert_eq!(day(Some(&ramp), started + Days::new(1)), Some(2));
        assert_eq!(day(None, started), None);
        assert_eq!(plan(0, 20).day(started), None, "0 days: no plan");
        assert_eq!(plan(1, 20).day(started), Some(1));
        assert_eq!(plan(60, 20).day(started + Days::new(59)), Some(60));
        assert_eq!(plan(60, 20).day(date("2999-01-01")), None);
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_field() {
        let on = date("2025-11-01");
        assert_eq!(
            WarmupPlan::new(61, 0, on),
            Err(vec![
                ("warmup_days", Msg::Between(0, 60)),
                ("warmup_start_limit", Msg::Between(1, 100_000))
            ])
        );
        for days in [-1, 61, i64::from(u16::MAX) + 1, i64::MIN] {
            assert_eq!(
                WarmupPlan::parse_days(days),
                Err(Msg::Between(0, 60)),
                "{days}"
            );
        }
        for start in [0, -5, 100_001, i64::from(i32::MAX) + 1] {
            assert_eq!(
                WarmupPlan::parse_start_limit(start),
                Err(Msg::Between(1, 100_000)),
                "{start}"
            );
        }
        let ok = WarmupPlan::new(60, 100_000, on).unwrap();
        assert_eq!(
            (ok.days(), ok.start_limit(), ok.started_on()),
            (60, 100_000, on)
        );
        assert_eq!(WarmupPlan::parse_days(0), Ok(0));
        assert_eq!(
            WarmupPlan::parse_start_limit(i64::from(WarmupPlan::DEFAULT_START_LIMIT)),
            Ok(20)
        );
    }

    #[test]
    fn the_sql_names_its_inputs_and_rounds_with_floor() {
        let sql = warmup_limit_sql(
            "w.daily_message_limit",
            "w.warmup_days",
            "w.warmup_start_limit",
            "$2",
        );
        assert!(
            sql.starts_with("CASE WHEN w.warmup_days <= 1 OR $2 >= w.warmup_days"),
            "{sql}"
        );
        assert!(sql.contains("FLOOR(w.warmup_start_limit * POWER("), "{sql}");
        assert!(!sql.contains("ROUND"), "{sql}");
    }
}
