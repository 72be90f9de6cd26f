use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::claim::MAX_CLAIM_COUNT;
use crate::auth::SenderCaller;
use crate::db::claims::{self, ReleaseOutcome};
use crate::error::{ApiError, ErrorBody, ErrorKey, FieldErrors, Resource};
use crate::i18n::{Locale, Msg};
use crate::input::{Input, JsonObject};
use crate::openapi::responses::Conflict;
use crate::routes::wire::DataBody;
use crate::sender::authorize;
use crate::sender::{local_date, tenant_zone};
use crate::state::AppState;

/// What to give back of a claim. `count` absent or `null`: everything it was granted.
#[derive(Deserialize, ToSchema, Default)]
pub struct ReleaseBody {
    /// How many of the claim's messages were not sent, in total, 1 to what it was
    /// granted (default: all it was granted), so never above 1000, the most a claim is
    /// granted; above what this claim was granted is a 422 naming its grant. Releasing
    /// again with the same count gives nothing back twice; a larger count later gives
    /// back the difference.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000, example = 1)]
    #[serde(default)]
    pub count: Input,
}

/// A claim after a release.
#[derive(Serialize, ToSchema)]
pub struct ReleaseResult {
    #[schema(format = "uuid", example = "0b6c3f0e-8a51-4a63-9d0e-2f1f3c4d5e6f")]
    pub claim_id: String,
    #[schema(example = 3)]
    pub granted: i32,
    /// Released in total for this claim.
    #[schema(example = 1)]
    pub released: i32,
    /// Given back by this call (0 when repeated): to the instance's count today, and to
    /// the history and the credits. 0 for a claim counted before a reset-counter of its
    /// instance (`counted_before_reset`): the reset already restored the whole quota, so
    /// the release is only recorded (in `released`, the history and the credits).
    #[schema(example = 1)]
    pub given_back: i32,
    /// The instance's counter was reset after this claim was made.
    #[schema(example = false)]
    pub counted_before_reset: bool,
    #[schema(example = 1)]
    pub instance_id: i64,
    /// The instance's counter after the release; `null` if the instance was deleted.
    #[schema(required = true, example = 245)]
    pub messages_sent_today: Option<i32>,
    /// What the instance has left today; `null` if the instance was deleted.
    #[schema(required = true, example = 755)]
    pub remaining_quota: Option<i32>,
}

/// Gives back the messages of a claim that could not be sent.
///
/// Only on the claim's local day. For a sender token of this tenant or a super admin; a
/// tenant user gets 403, a sender token of another tenant 404.
///
/// 409: The claim's local day is over (`sender.release_day_over`).
#[utoipa::path(
    tag = "sender",
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        ("claim_id" = String, Path, description = "The `claim_id` a claim returned"),
    ),
    request_body = ReleaseBody,
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<ReleaseResult>), ReleaseFailures)
)]
#[post("/tenants/{tenant}/sender/claims/{claim_id}/release")]
pub async fn release_claim(
    state: web::Data<AppState>,
    caller: SenderCaller,
    locale: Locale,
    path: web::Path<(String, String)>,
    body: JsonObject<ReleaseBody>,
) -> Result<web::Json<DataBody<ReleaseResult>>, ApiError> {
    let (tenant_key, claim_id) = path.into_inner();
    run_release(state, caller, Some(tenant_key), claim_id, locale, body).await
}

/// As the tenant path, for a sender token.
///
/// A user's token gets 403 here.
///
/// 409: The claim's local day is over (`sender.release_day_over`).
#[utoipa::path(
    tag = "sender",
    params(("claim_id" = String, Path, description = "The `claim_id` a claim returned")),
    request_body = ReleaseBody,
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<ReleaseResult>), ReleaseFailures)
)]
#[post("/tenant/sender/claims/{claim_id}/release")]
pub async fn release_own_claim(
    state: web::Data<AppState>,
    caller: SenderCaller,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<ReleaseBody>,
) -> Result<web::Json<DataBody<ReleaseResult>>, ApiError> {
    run_release(state, caller, None, path.into_inner(), locale, body).await
}

/// What a release answers when it gives nothing back, on either path.
#[derive(utoipa::IntoResponses)]
pub enum ReleaseFailures {
    #[response(status = 409)]
    Conflict(#[ref_response] Conflict),
    #[response(
        status = 503,
        description = RELEASE_UNAVAILABLE,
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
    )]
    Unavailable(ErrorBody),
}

const RELEASE_UNAVAILABLE: &str = "The database is busy or unreachable, or lost the connection (`database.unavailable`): retry; a repeated release gives nothing back twice";

async fn run_release(
    state: web::Data<AppState>,
    caller: SenderCaller,
    tenant_key: Option<String>,
    claim_id: String,
    locale: Locale,
    body: JsonObject<ReleaseBody>,
) -> Result<web::Json<DataBody<ReleaseResult>>, ApiError> {
    let mut errors = FieldErrors::default();
    let count = body.count.integer("count", &mut errors);
    if matches!(count, Some(n) if !(1..=MAX_CLAIM_COUNT).contains(&n)) {
        errors.add("count", Msg::Between(1, MAX_CLAIM_COUNT));
    }
    errors.into_result(locale)?;
    let unsent = count.map(|n| n as i32);
    let now = state.clock.now();
    let outcome = state
        .write(move |conn| {
            let (tenant, _) = authorize(conn, &caller, tenant_key.as_deref(), now.naive_utc())?;
            let today = local_date(now, tenant_zone(&tenant));
            let outcome =
                claims::release_claim(conn, tenant.id, &claim_id, unsent, today, now.naive_utc())?;
            Ok(outcome)
        })
        .await?;
    let (claim, given_back, counted_before_reset, usage) = match outcome {
        ReleaseOutcome::Released {
            claim,
            given_back,
            counted_before_reset,
            usage,
        } => (claim, given_back, counted_before_reset, usage),
        ReleaseOutcome::NotFound => return Err(ApiError::not_found(Resource::Claim)),
        ReleaseOutcome::DayOver(claim) => {
            return Err(ApiError::conflict(
                ErrorKey::SenderReleaseDayOver,
                format!(
                    "The claim counted for {}; only claims of the current day can be released",
                    claim.usage_date
                ),
            ))
        }
        ReleaseOutcome::MoreThanGranted(claim) => {
            let limit = Msg::Between(1, i64::from(claim.granted));
            return Err(FieldErrors::one("count", limit, locale));
        }
    };
    Ok(web::Json(DataBody::new(ReleaseResult {
        claim_id: claim.public_id,
        granted: claim.granted,
        released: claim.released,
        given_back,
        counted_before_reset,
        instance_id: claim.instance_id,
        messages_sent_today: usage.map(|usage| usage.sent),
        remaining_quota: usage.map(|usage| usage.remaining()),
    })))
}
