use actix_web::http::StatusCode;
use actix_web::{post, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::MessageRecord;
use crate::auth::SenderCaller;
use crate::db::messages::Message;
use crate::domain::{PhoneNumber, RotationStrategy};
use crate::error::{ApiError, ErrorBody, ErrorKey, FieldErrors, ValidationErrorBody};
use crate::i18n::{Locale, Msg};
use crate::input::{idempotency_key, optional, required, Input, JsonObject};
use crate::messaging::{self, attempts_of, Outgoing, SendError, Sent};
use crate::openapi::responses::{Conflict, TooManyRequests};
use crate::request_id::RequestId;
use crate::routes::sender::none_available;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// The longest text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// What a send answers when the message was not sent, on either path.
#[derive(utoipa::IntoResponses)]
pub enum SendFailures {
    #[response(status = 409)]
    Conflict(#[ref_response] Conflict),
    #[response(status = 422, description = SEND_INVALID)]
    Invalid(ValidationErrorBody),
    #[response(status = 429)]
    TooManyRequests(#[ref_response] TooManyRequests),
    #[response(status = 502, description = SEND_FAILED)]
    Failed(ErrorBody),
    #[response(status = 504, description = SEND_TIMEOUT)]
    Timeout(ErrorBody),
}

const SEND_FAILED: &str = "No instance could send it (`message.send_failed`): every instance tried failed (at most three), or none was left to try. Nothing stays counted. `error_params` has `message_id` and `attempts`";
const SEND_TIMEOUT: &str = "Evolution API did not answer in time (`message.send_timeout`): the message may have gone out, so it stays counted, is `unknown`, and is not sent again (not even on another instance). `error_params` has `message_id` and `attempts`";
const SEND_INVALID: &str = "A field is invalid (`validation.failed`), or the number is not on WhatsApp (`message.recipient_invalid`, on `to`, with `error_params.message_id` and `attempts`; nothing stays counted)";

/// A text to send.
#[derive(Deserialize, ToSchema, Default)]
pub struct SendMessageBody {
    /// The recipient in international form (`+`, country code, number; spaces, dashes,
    /// dots and brackets are ignored), as an instance's `phone_number`. The instance that
    /// last served it is used again while it is eligible.
    #[schema(value_type = crate::domain::PhoneNumber, inline, required = true)]
    #[serde(default)]
    pub to: Input,
    /// The text, 1 to 4096 characters, not only spaces; sent as written and never stored.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 4096, example = "Hola, tu pedido está en camino.")]
    #[serde(default)]
    pub text: Input,
    /// Repeating a key (per tenant, for 24 hours) answers with the first message and
    /// sends nothing again, also while the first request is still sending it. Up to 128
    /// characters; surrounding spaces are dropped.
    #[schema(value_type = Option<String>, max_length = 128, example = "campaign-42-msg-1001")]
    #[serde(default)]
    pub idempotency_key: Input,
    /// Overrides the tenant's `rotation_strategy` for this message.
    #[schema(value_type = Option<RotationStrategy>)]
    #[serde(default)]
    pub strategy: Input,
}

fn parse(body: &SendMessageBody, locale: Locale) -> Result<Outgoing, ApiError> {
    let mut errors = FieldErrors::default();
    let to = required(&body.to, "to", &mut errors, PhoneNumber::parse);
    if !matches!(body.text, Input::Value(_)) {
        errors.add("text", Msg::Required);
    }
    let text = body.text.exact_string("text", &mut errors);
    if matches!(&text, Some(text) if text.chars().count() > MAX_TEXT_CHARS) {
        errors.add("text", Msg::MaxLength(MAX_TEXT_CHARS));
    }
    let idempotency_key = idempotency_key(&body.idempotency_key, &mut errors);
    let strategy = optional(
        &body.strategy,
        "strategy",
        &mut errors,
        RotationStrategy::parse,
    );
    errors.into_result(locale)?;
    match (to, text) {
        (Some(to), Some(text)) => Ok(Outgoing {
            to,
            text,
            idempotency_key,
            strategy,
        }),
        _ => Err(ApiError::internal("a checked message lost a field")),
    }
}

/// Sends a text through the next instance of the tenant that may still send today.
///
/// Claims one message (sticky to `to`), sends it with Evolution API's `sendText`, and
/// fails over to another instance when one fails (at most three). 201 when sent now;
/// 200 with the first message when the `idempotency_key` was used before (nothing is
/// sent again). For a sender token of this tenant or a super admin; a tenant user gets
/// 403, a sender token of another tenant 404.
///
/// 409: The tenant has no active instance that ever could send
/// (`whatsapp.no_active_instances`), or the first request with this `idempotency_key` is
/// still sending the message (`message.in_flight`, with `Retry-After`). 429: Every
/// instance used up its quota today (`whatsapp.no_instance_available`,
/// `error_params.next_reset_at`); `Retry-After` is the time to the tenant's next local
/// midnight. Nothing was recorded.
#[utoipa::path(
    tag = "messages",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = SendMessageBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Sent now", body = DataBody<MessageRecord>),
        (status = 200, description = "Sent before, by the first request with this `idempotency_key`", body = DataBody<MessageRecord>),
        SendFailures,
    )
)]
#[post("/tenants/{tenant}/messages")]
pub async fn send_message(
    state: web::Data<AppState>,
    caller: SenderCaller,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<SendMessageBody>,
) -> Result<(web::Json<DataBody<MessageRecord>>, StatusCode), ApiError> {
    run_send(
        state,
        caller,
        Some(path.into_inner()),
        locale,
        body,
        request_id,
    )
    .await
}

/// As the tenant path, for a sender token: its own tenant is implied.
///
/// A user's token gets 403 here.
///
/// 409: The tenant has no active instance that ever could send
/// (`whatsapp.no_active_instances`), or the first request with this `idempotency_key` is
/// still sending the message (`message.in_flight`, with `Retry-After`). 429: Every
/// instance used up its quota today (`whatsapp.no_instance_available`,
/// `error_params.next_reset_at`); `Retry-After` is the time to the tenant's next local
/// midnight. Nothing was recorded.
#[utoipa::path(
    tag = "messages",
    request_body = SendMessageBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Sent now", body = DataBody<MessageRecord>),
        (status = 200, description = "Sent before, by the first request with this `idempotency_key`", body = DataBody<MessageRecord>),
        SendFailures,
    )
)]
#[post("/tenant/messages")]
pub async fn send_own_message(
    state: web::Data<AppState>,
    caller: SenderCaller,
    request_id: RequestId,
    locale: Locale,
    body: JsonObject<SendMessageBody>,
) -> Result<(web::Json<DataBody<MessageRecord>>, StatusCode), ApiError> {
    run_send(state, caller, None, locale, body, request_id).await
}

async fn run_send(
    state: web::Data<AppState>,
    caller: SenderCaller,
    tenant_key: Option<String>,
    locale: Locale,
    body: JsonObject<SendMessageBody>,
    request_id: RequestId,
) -> Result<(web::Json<DataBody<MessageRecord>>, StatusCode), ApiError> {
    let outgoing = parse(&body, locale)?;
    let sent = messaging::send(&state, caller, tenant_key, outgoing, request_id).await;
    let (message, status, outcome) = match sent {
        Ok(Sent::Now(message)) => (message, StatusCode::CREATED, "sent"),
        Ok(Sent::Before(message)) => (message, StatusCode::OK, "replayed"),
        Err(error) => {
            let error = http_error(&state, error, locale);
            let key = error.error_key().map_or("unauthorized", ErrorKey::as_str);
            state.metrics.message(key);
            return Err(error);
        }
    };
    state.metrics.message(outcome);
    let record = MessageRecord::try_from(message)?;
    Ok((web::Json(DataBody::new(record)), status))
}

/// The one mapping of a send's failures to HTTP.
fn http_error(state: &AppState, error: SendError, locale: Locale) -> ApiError {
    match error {
        SendError::Api(error) => error,
        SendError::NoneAvailable { any_active, tenant } => {
            none_available(any_active, &tenant, state.clock.now())
        }
        SendError::InFlight(message) => ApiError::conflict(
            ErrorKey::MessageInFlight,
            "A request with this idempotency key is still sending the message; ask again shortly",
        )
        .with_params(json!({ "message_id": message.public_id }))
        .with_retry_after(1),
        SendError::RecipientInvalid(message) => {
            FieldErrors::one("to", Msg::NotOnWhatsApp, locale)
                .with_key(messaging::RECIPIENT_INVALID)
                .with_params(outcome_params(&message))
        }
        SendError::Failed(message) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            messaging::SEND_FAILED,
            "No WhatsApp instance could send the message; nothing was counted",
        )
        .with_params(outcome_params(&message)),
        SendError::Unknown(message) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            messaging::SEND_TIMEOUT,
            "Evolution API did not answer in time: the message may have been sent, so it stays counted and will not be sent again",
        )
        .with_params(outcome_params(&message)),
    }
}

/// `{message_id, attempts}` of a message that was not (or may not have been) sent.
fn outcome_params(message: &Message) -> serde_json::Value {
    let attempts = attempts_of(message).unwrap_or_default();
    json!({ "message_id": message.public_id, "attempts": attempts })
}
