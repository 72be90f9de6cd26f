//! Rotation policy around the atomic claim in `db::claims`: which strategy a claim
//! uses and when an exhausted tenant gets its quota back.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::db::tenants::Tenant;
use crate::domain::RotationStrategy;

/// The request's strategy, else the tenant's default, else round robin.
pub fn strategy_for(tenant: &Tenant, requested: Option<RotationStrategy>) -> RotationStrategy {
    requested
        .or_else(|| RotationStrategy::parse(&tenant.rotation_strategy).ok())
        .unwrap_or(RotationStrategy::RoundRobin)
}

pub fn tenant_zone(tenant: &Tenant) -> Tz {
    tenant.timezone.parse().unwrap_or(Tz::UTC)
}

/// The tenant's local date at `now`: the day its counters belong to.
pub fn local_date(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// The next local midnight after `now`, when every counter starts again. Where a
/// daylight-saving change skips midnight, the day starts at its first valid minute.
pub fn next_reset_at(now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let tomorrow = local_date(now, zone)
        .succ_opt()
        .expect("dates this far from the end of time")
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    (0..=180)
        .find_map(|minutes| {
            zone.from_local_datetime(&(tomorrow + Duration::minutes(minutes)))
                .earliest()
        })
        .map(|start| start.with_timezone(&Utc))
        .unwrap_or(now + Duration::days(1))
}

/// Whole seconds until `then`, at least 1: what `Retry-After` says.
pub fn seconds_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    let millis = (then - now).num_milliseconds().max(1);
    (millis as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    #[test]
    fn the_quota_returns_at_the_tenants_midnight() {
        let bogota: Tz = "America/Bogota".parse().unwrap();
        // 06:30 UTC is 01:30 in Bogotá (UTC-5): next midnight is 05:00 UTC tomorrow.
        let now = at("2025-11-17T06:30:00Z");
        assert_eq!(next_reset_at(now, bogota), at("2025-11-18T05:00:00Z"));
        assert_eq!(seconds_until(now, next_reset_at(now, bogota)), 81_000);
        // 03:00 UTC is still the 16th in Bogotá.
        assert_eq!(
            next_reset_at(at("2025-11-17T03:00:00Z"), bogota),
            at("2025-11-17T05:00:00Z")
        );
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_its_first_minute() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2025-09-07.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let reset = next_reset_at(at("2025-09-06T12:00:00Z"), santiago);
        assert_eq!(reset, at("2025-09-07T04:00:00Z"));
    }

    #[test]
    fn partial_seconds_round_up() {
        let now = at("2025-11-17T06:30:00Z");
        assert_eq!(seconds_until(now, now + Duration::milliseconds(1500)), 2);
        assert_eq!(seconds_until(now, now), 1);
    }
}
