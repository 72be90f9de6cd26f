//! Rotation policy around the atomic claim in `db::claims`: who claims for which tenant,
//! which strategy a claim uses and when an exhausted tenant gets its quota back.

pub mod batch;
pub mod claim;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::auth::identity::SenderCaller;
use crate::db::claims::ClaimRequest;
use crate::db::sender_tokens::{self, SenderToken};
use crate::db::tenants::{self, Tenant, TenantKey};
use crate::db::DbConnection;
use crate::domain::RotationStrategy;
use crate::error::{ApiError, Resource};

/// The tenant a sender call acts for, and the sender token that made it (`None` for a
/// super admin). `tenant_key` is the path's tenant; the tenant-implicit paths have none
/// and are for sender tokens only. Runs on the request's database connection so that
/// a revoked token fails on its very next use.
pub fn authorize(
    conn: &mut DbConnection,
    caller: &SenderCaller,
    tenant_key: Option<&str>,
    now: NaiveDateTime,
) -> Result<(Tenant, Option<i64>), ApiError> {
    match caller {
        SenderCaller::Token { token_hash } => admit_token(
            sender_tokens::authenticate(conn, token_hash, now)?,
            tenant_key,
        ),
        SenderCaller::User(token) => {
            let user = token.confirm(conn)?;
            let key = tenant_key.ok_or_else(ApiError::forbidden)?;
            let tenant = tenants::find(conn, &TenantKey::parse(key))?
                .filter(|tenant| user.can_see_tenant(tenant.id))
                .ok_or_else(|| ApiError::not_found(Resource::Tenant))?;
            if user.is_super_admin() {
                Ok((tenant, None))
            } else {
                Err(ApiError::forbidden())
            }
        }
    }
}

/// A sender token's call, given what its hash found (a live token and its tenant, or
/// nothing): 401 for no token, 404 for a path naming another tenant.
pub fn admit_token(
    found: Option<(SenderToken, Tenant)>,
    tenant_key: Option<&str>,
) -> Result<(Tenant, Option<i64>), ApiError> {
    let (token, tenant) = found.ok_or_else(ApiError::unauthenticated)?;
    match tenant_key {
        Some(key) if !TenantKey::parse(key).names(&tenant) => {
            Err(ApiError::not_found(Resource::Tenant))
        }
        _ => Ok((tenant, Some(token.id))),
    }
}

/// A claim of `count` messages for `tenant` at `now`: counted on the tenant's local day,
/// with `quota.exhausted` when the tenant takes events. Recipient, key, token and
/// exclusions are the caller's to add.
pub fn claim_request(
    tenant: &Tenant,
    now: DateTime<Utc>,
    count: i32,
    strategy: Option<RotationStrategy>,
) -> ClaimRequest {
    let zone = tenant_zone(tenant);
    ClaimRequest {
        tenant_id: tenant.id,
        count,
        strategy: strategy_for(tenant, strategy),
        recipient: None,
        idempotency_key: None,
        sender_token_id: None,
        today: local_date(now, zone),
        now: now.naive_utc(),
        next_reset_at: tenant
            .callback_url
            .is_some()
            .then(|| next_reset_at(now, zone).naive_utc()),
        exclude: Vec::new(),
    }
}

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
#[allow(
    clippy::expect_used,
    reason = "dates are read from the clock, far from the end of chrono's calendar"
)]
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
