use actix_web::{post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::none_available;
use crate::auth::SenderCaller;
use crate::db::claims::{self, Claim, ClaimOutcome};
use crate::db::instances::Instance;
use crate::domain::{PhoneNumber, RotationStrategy, Timestamp};
use crate::error::{ApiError, ErrorBody, ErrorKey, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{idempotency_key, optional, Input, JsonObject};
use crate::openapi::responses::{Conflict, TooManyRequests};
use crate::routes::wire::DataBody;
use crate::sender::batch::{ClaimBatcher, ClaimJob, Claimed};
use crate::state::AppState;

pub const MAX_CLAIM_COUNT: i64 = 1000;

/// What a claim answers when it grants nothing, on either path.
#[derive(utoipa::IntoResponses)]
pub enum ClaimFailures {
    #[response(status = 409)]
    Conflict(#[ref_response] Conflict),
    #[response(status = 429)]
    TooManyRequests(#[ref_response] TooManyRequests),
    #[response(
        status = 503,
        description = CLAIM_UNAVAILABLE,
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
    )]
    Unavailable(ErrorBody),
}

const CLAIM_UNAVAILABLE: &str = "The database is busy or unreachable, or lost the connection (`database.unavailable`); the claim may or may not have been counted: retry with the same `idempotency_key`";

/// What to claim. Every field is optional; `null` is the same as leaving it out.
#[derive(Deserialize, ToSchema, Default)]
pub struct ClaimBody {
    /// How many messages to send, 1 to 1000 (default 1). One instance takes them all or
    /// what it has left; `granted` says how many.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000, example = 1)]
    #[serde(default)]
    pub count: Input,
    /// The destination in international form (`+`, country code, number; spaces, dashes,
    /// dots and brackets are ignored), as an instance's `phone_number`. The instance that
    /// last served it is used again while it is eligible (sticky sender).
    #[schema(value_type = crate::domain::OptionalPhoneNumber, inline)]
    #[serde(default)]
    pub recipient: Input,
    /// Overrides the tenant's `rotation_strategy` for this claim.
    #[schema(value_type = Option<RotationStrategy>)]
    #[serde(default)]
    pub strategy: Input,
    /// Repeating a key (per tenant, for 24 hours) returns the first claim and counts
    /// nothing again. Up to 128 characters; surrounding spaces are dropped.
    #[schema(value_type = Option<String>, max_length = 128, example = "campaign-42-msg-1001")]
    #[serde(default)]
    pub idempotency_key: Input,
}

struct ValidClaim {
    count: i32,
    recipient: Option<String>,
    strategy: Option<RotationStrategy>,
    idempotency_key: Option<String>,
}

impl ValidClaim {
    fn parse(body: &ClaimBody, locale: Locale) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::default();
        let count = body.count.integer("count", &mut errors);
        if matches!(count, Some(n) if !(1..=MAX_CLAIM_COUNT).contains(&n)) {
            errors.add("count", Msg::Between(1, MAX_CLAIM_COUNT));
        }
        let recipient = optional(
            &body.recipient,
            "recipient",
            &mut errors,
            PhoneNumber::parse,
        );
        let strategy = optional(
            &body.strategy,
            "strategy",
            &mut errors,
            RotationStrategy::parse,
        );
        let idempotency_key = idempotency_key(&body.idempotency_key, &mut errors);
        errors.into_result(locale)?;
        Ok(Self {
            count: count.unwrap_or(1) as i32,
            recipient: recipient.map(|phone| phone.as_str().to_string()),
            strategy,
            idempotency_key,
        })
    }
}

/// The instance to send through, with what it needs to call Evolution API.
#[derive(Serialize, ToSchema)]
pub struct ClaimedInstance {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "principal_campana")]
    pub instance_name: String,
    #[schema(example = "+573001234567")]
    pub phone_number: String,
    /// The instance's own URL, else its server's (the default server when it was
    /// registered with `null`); `null` only when it has neither.
    #[schema(required = true, example = "https://evolution.midominio.com")]
    pub evolution_api_url: Option<String>,
    #[schema(example = "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A")]
    pub evolution_api_key: String,
}

/// A granted claim: the instance to send through and how many messages it took.
#[derive(Serialize, ToSchema)]
pub struct ClaimResult {
    /// Name this claim when releasing unsent messages.
    #[schema(format = "uuid", example = "0b6c3f0e-8a51-4a63-9d0e-2f1f3c4d5e6f")]
    pub claim_id: String,
    #[schema(example = 1)]
    pub requested: i32,
    /// How many messages may be sent now: `min(count, remaining)` of one instance.
    #[schema(example = 1)]
    pub granted: i32,
    /// Given back so far by releases.
    #[schema(example = 0)]
    pub released: i32,
    pub instance: ClaimedInstance,
    /// The instance's counter and what it has left, as the claim left them (for a
    /// replay: as they stand now).
    #[schema(example = 246)]
    pub messages_sent_today: i32,
    #[schema(example = 754)]
    pub remaining_quota: i32,
    /// The tenant's local day the messages count for.
    #[schema(value_type = String, format = Date, example = "2025-11-17")]
    pub usage_date: NaiveDate,
    /// The strategy that picked the instance.
    #[schema(value_type = RotationStrategy)]
    pub strategy: String,
    /// True when an earlier claim with the same `idempotency_key` is being returned.
    pub replayed: bool,
    pub created_at: Timestamp,
}

/// Claims the next instance of the tenant that may still send today.
///
/// Picks the instance and counts the messages on it in one atomic step. For a sender
/// token of this tenant or a super admin; a tenant user gets 403, a sender token of
/// another tenant 404.
///
/// 409: The tenant has no active instance, or only provisioned ones still waiting for
/// their first QR scan (`whatsapp.no_active_instances`), or the `idempotency_key` replays
/// a claim whose instance was deleted since (`sender.claim_instance_deleted`, with the
/// claim in `error_params`: `claim_id`, `granted`, `released`, `instance_id`,
/// `usage_date`). 429: Every instance used up its quota today
/// (`whatsapp.no_instance_available`, `error_params.next_reset_at`); `Retry-After` is the
/// time to the tenant's next local midnight.
#[utoipa::path(
    tag = "sender",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = ClaimBody,
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<ClaimResult>), ClaimFailures)
)]
#[post("/tenants/{tenant}/sender/claim")]
pub async fn claim_instance(
    state: web::Data<AppState>,
    batcher: web::Data<ClaimBatcher>,
    caller: SenderCaller,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<ClaimBody>,
) -> Result<web::Json<DataBody<ClaimResult>>, ApiError> {
    run_claim(
        state,
        batcher,
        caller,
        Some(path.into_inner()),
        locale,
        body,
    )
    .await
}

/// As the tenant path, for a sender token: its own tenant is implied.
///
/// A user's token gets 403 here.
///
/// 409: The tenant has no active instance, or only provisioned ones still waiting for
/// their first QR scan (`whatsapp.no_active_instances`), or the `idempotency_key` replays
/// a claim whose instance was deleted since (`sender.claim_instance_deleted`, with the
/// claim in `error_params`: `claim_id`, `granted`, `released`, `instance_id`,
/// `usage_date`). 429: Every instance used up its quota today
/// (`whatsapp.no_instance_available`, `error_params.next_reset_at`); `Retry-After` is the
/// time to the tenant's next local midnight.
#[utoipa::path(
    tag = "sender",
    request_body = ClaimBody,
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<ClaimResult>), ClaimFailures)
)]
#[post("/tenant/sender/claim")]
pub async fn claim_own_instance(
    state: web::Data<AppState>,
    batcher: web::Data<ClaimBatcher>,
    caller: SenderCaller,
    locale: Locale,
    body: JsonObject<ClaimBody>,
) -> Result<web::Json<DataBody<ClaimResult>>, ApiError> {
    run_claim(state, batcher, caller, None, locale, body).await
}

/// Runs a claim and counts it in the metrics: `granted`, `replayed`, or the refusal's
/// `error_key`.
async fn run_claim(
    state: web::Data<AppState>,
    batcher: web::Data<ClaimBatcher>,
    caller: SenderCaller,
    tenant_key: Option<String>,
    locale: Locale,
    body: JsonObject<ClaimBody>,
) -> Result<web::Json<DataBody<ClaimResult>>, ApiError> {
    let started = std::time::Instant::now();
    let metrics = state.metrics.clone();
    let result = claim(state, batcher, caller, tenant_key, locale, body).await;
    let outcome = match &result {
        Ok(claimed) if claimed.data.replayed => "replayed",
        Ok(_) => "granted",
        Err(error) => error.error_key().map_or("unauthorized", ErrorKey::as_str),
    };
    metrics.claim(outcome, started.elapsed());
    result
}

async fn claim(
    state: web::Data<AppState>,
    batcher: web::Data<ClaimBatcher>,
    caller: SenderCaller,
    tenant_key: Option<String>,
    locale: Locale,
    body: JsonObject<ClaimBody>,
) -> Result<web::Json<DataBody<ClaimResult>>, ApiError> {
    let valid = ValidClaim::parse(&body, locale)?;
    let now = state.clock.now();
    let job = ClaimJob {
        caller,
        tenant_key,
        count: valid.count,
        recipient: valid.recipient,
        strategy: valid.strategy,
        idempotency_key: valid.idempotency_key,
        now,
    };
    let Claimed {
        tenant,
        today,
        outcome,
        server_url,
    } = batcher.into_inner().claim(job).await?;
    let (claim, instance, replayed) = match outcome {
        ClaimOutcome::Granted(claim, instance) => (claim, instance, false),
        ClaimOutcome::Replayed(claim, Some(instance)) => (claim, instance, true),
        ClaimOutcome::Replayed(claim, None) => return Err(instance_deleted(&claim)),
        ClaimOutcome::NoneAvailable { any_active } => {
            return Err(none_available(any_active, &tenant, now))
        }
    };
    let usage = instance.usage_on(today);
    let claimed = match claimed_instance(&state, instance, server_url) {
        Ok(claimed) => claimed,
        Err(error) => {
            if !replayed {
                give_back(&state, tenant.id, &claim, now).await;
            }
            return Err(error);
        }
    };
    let result = ClaimResult {
        claim_id: claim.public_id,
        requested: claim.requested,
        granted: claim.granted,
        released: claim.released,
        instance: claimed,
        messages_sent_today: usage.sent,
        remaining_quota: usage.remaining(),
        usage_date: claim.usage_date,
        strategy: claim.strategy,
        replayed,
        created_at: Timestamp(claim.created_at),
    };
    Ok(web::Json(DataBody::new(result)))
}

/// 409 for a replayed claim whose instance was deleted since: the sender cannot send
/// through it, but learns the claim it made, to release it and claim again with a new key.
fn instance_deleted(claim: &Claim) -> ApiError {
    ApiError::conflict(
        ErrorKey::SenderClaimInstanceDeleted,
        "This idempotency key's claim was made on a WhatsApp instance that has been deleted since; release it and claim again with a new key",
    )
    .with_params(serde_json::json!({
        "claim_id": claim.public_id,
        "granted": claim.granted,
        "released": claim.released,
        "instance_id": claim.instance_id,
        "usage_date": claim.usage_date,
    }))
}

/// Undoes a claim the sender cannot use (its instance's key cannot be read): without
/// an answer it could never release the messages itself.
async fn give_back(state: &AppState, tenant_id: i64, claim: &Claim, now: DateTime<Utc>) {
    let (public_id, day) = (claim.public_id.clone(), claim.usage_date);
    let released = state
        .write(move |conn| {
            let naive_now = now.naive_utc();
            Ok(claims::release_claim(
                conn, tenant_id, &public_id, None, day, naive_now,
            )?)
        })
        .await;
    if let Err(error) = released {
        log::error!("claim {} could not be given back: {error}", claim.public_id);
    }
}

fn claimed_instance(
    state: &AppState,
    instance: Instance,
    server_url: Option<String>,
) -> Result<ClaimedInstance, ApiError> {
    Ok(ClaimedInstance {
        evolution_api_key: state
            .cipher
            .decrypt(&instance.evolution_api_key_encrypted)
            .map_err(ApiError::internal)?,
        id: instance.id,
        instance_name: instance.instance_name,
        phone_number: instance.phone_number,
        evolution_api_url: instance.evolution_api_url.or(server_url),
    })
}
