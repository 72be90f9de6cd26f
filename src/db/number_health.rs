//! The SQL renderings of the number-health rules (SPEC §6b) run on the databases and
//! compared, value for value, with the Rust rules they copy: the warm-up ramp
//! ([`crate::domain::warmup`]) on PostgreSQL, the pacing gap ([`crate::domain::pacing`]) on
//! both backends. A claim statement that uses them then applies the same rule as the views.

use std::io::Write;

use chrono::{Days, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer};

use crate::db::DbConnection;
use crate::domain::pacing::{self, Jitter};
use crate::domain::warmup::{self, WarmupPlan};

/// The test server, as the API tests reach it.
fn postgres() -> Option<PgConnection> {
    let url = std::env::var("RELEVO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    match PgConnection::establish(&url) {
        Ok(conn) => Some(conn),
        Err(error) => {
            let error = error
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            skip(&format!("PostgreSQL is unreachable at {url} ({error})"));
            None
        }
    }
}

/// As the API tests' skip: a failure with `RELEVO_REQUIRE_POSTGRES=1` (CI), otherwise a
/// `SKIPPED` line written past libtest's capture.
#[track_caller]
fn skip(reason: &str) {
    if std::env::var("RELEVO_REQUIRE_POSTGRES").is_ok_and(|value| value == "1") {
        panic!("RELEVO_REQUIRE_POSTGRES=1 but {reason}");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<a test>");
    let _ = writeln!(
        std::io::stderr(),
        "test {test} ... SKIPPED ({reason}; RELEVO_REQUIRE_POSTGRES=1 makes this a failure)"
    );
}

/// One plan of the grid and its limit on each day from the day before it starts to the
/// day after it ends.
#[derive(QueryableByName)]
struct Ramp {
    #[diesel(sql_type = Integer)]
    daily_limit: i32,
    #[diesel(sql_type = Integer)]
    start_limit: i32,
    #[diesel(sql_type = Integer)]
    days: i32,
    #[diesel(sql_type = Array<Integer>)]
    limits: Vec<i32>,
}

#[test]
fn postgres_ramps_as_rust_does_on_every_day_of_every_plan() {
    let Some(mut conn) = postgres() else {
        return;
    };
    let daily_limits: Vec<i32> = (1..=1000).step_by(7).chain([1000, 5000, 100_000]).collect();
    let starts = [1, 2, 3, 5, 10, 20, 50, 100, 500, 999, 1000, 5000, 100_000];
    // Day 0 is the day before the plan started, day `n + 1` the day after it ended.
    let statement = format!(
        "SELECT l AS daily_limit, s AS start_limit, n AS days, \
         ARRAY(SELECT {limit} FROM generate_series(0, n + 1) AS d ORDER BY d) AS limits \
         FROM unnest($1::integer[]) AS l, unnest($2::integer[]) AS s, \
         generate_series(0, {max_days}) AS n ORDER BY l, s, n",
        limit = warmup::warmup_limit_sql("l", "n", "s", "d"),
        max_days = WarmupPlan::MAX_DAYS,
    );
    let ramps: Vec<Ramp> = diesel::sql_query(statement)
        .bind::<Array<Integer>, _>(&daily_limits)
        .bind::<Array<Integer>, _>(&starts[..])
        .load(&mut conn)
        .unwrap();
    assert_eq!(ramps.len(), daily_limits.len() * starts.len() * 61);

    let started_on = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
    let mut differences = Vec::new();
    let mut compared = 0;
    for ramp in &ramps {
        let plan = WarmupPlan::new(ramp.days.into(), ramp.start_limit.into(), started_on).unwrap();
        let rust: Vec<i32> = (0..=ramp.days + 1)
            .map(|d| {
                let today = match d {
                    0 => started_on - Days::new(1),
                    d => started_on + Days::new(d as u64 - 1),
                };
                warmup::effective_limit(ramp.daily_limit, Some(&plan), today)
            })
            .collect();
        compared += rust.len();
        if rust != ramp.limits {
            differences.push(format!(
                "limit {}, start {}, days {}: PostgreSQL {:?}, Rust {:?}",
                ramp.daily_limit, ramp.start_limit, ramp.days, ramp.limits, rust
            ));
        }
    }
    assert!(compared > 3_000_000, "{compared}");
    assert!(
        differences.is_empty(),
        "{} plans differ, first: {:#?}",
        differences.len(),
        &differences[..differences.len().min(5)]
    );
}

#[derive(QueryableByName)]
struct Until {
    #[diesel(sql_type = BigInt)]
    until: i64,
}

/// Every combination of the gap's inputs, as the rule stores them.
fn pacing_grid() -> Vec<(i64, i32, i32, Jitter)> {
    let mut grid = Vec::new();
    for now_ms in [0, 1_763_467_200_123, 4_102_444_800_999] {
        for granted in [0, 1, 7, 1000, i32::MAX] {
            for interval in [0, 1, 59, pacing::MAX_INTERVAL_SECONDS] {
                for permille in [800, 999, 1000, 1013, 1200] {
                    let jitter = Jitter::from_permille(permille).unwrap();
                    grid.push((now_ms, granted, interval, jitter));
                }
            }
        }
    }
    grid
}

/// [`pacing::busy_until_millis_sql`] over [`pacing_grid`] on `conn` (SQLite numbers `$1`…
/// in the order they appear, PostgreSQL by their digits: the same text serves both).
fn compare_pacing(conn: &mut DbConnection) {
    let statement = format!(
        "SELECT {} AS until",
        pacing::busy_until_millis_sql("$1", "$2", "$3", "$4")
    );
    for (now, count, seconds, jitter) in pacing_grid() {
        let Until { until } = diesel::sql_query(&statement)
            .bind::<BigInt, _>(now)
            .bind::<Integer, _>(count)
            .bind::<Integer, _>(seconds)
            .bind::<Integer, _>(jitter.permille())
            .get_result(conn)
            .unwrap();
        assert_eq!(
            until,
            pacing::busy_until_millis(now, count, seconds, jitter),
            "now {now}, granted {count}, interval {seconds}, jitter {jitter:?}"
        );
    }
}

#[test]
fn both_backends_pace_as_rust_does() {
    let sqlite = SqliteConnection::establish(":memory:").unwrap();
    compare_pacing(&mut DbConnection::Sqlite(sqlite));
    if let Some(postgres) = postgres() {
        compare_pacing(&mut DbConnection::Postgres(postgres));
    }
}
