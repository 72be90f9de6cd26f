use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody, ErrorKey, ValidationErrorBody};
use crate::lifecycle::inbound::{self, Outcome, MAX_BODY_BYTES};
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// What Relevo did with an event Evolution sent.
#[derive(Serialize, ToSchema)]
pub struct InboundReceipt {
    /// The event as Evolution matches it (`CONNECTION_UPDATE`).
    #[schema(example = "CONNECTION_UPDATE")]
    pub event: String,
    #[schema(example = "tenant-5-ab12cd34")]
    pub instance: String,
    pub outcome: Outcome,
}

/// Evolution API's webhook envelope, as `receive_evolution_webhook` reads it. Evolution
/// also sends `destination`, `date_time`, `sender`, `server_url` and `apikey`; those and
/// any other field are ignored.
#[derive(ToSchema)]
#[schema(example = json!({"event": "connection.update", "instance": "tenant-5-ab12cd34",
    "data": {"instance": "tenant-5-ab12cd34", "state": "open", "statusReason": 200}}))]
#[allow(dead_code)] // documents the body `inbound::parse` reads
pub struct EvolutionWebhookEnvelope {
    /// The event, in any of Evolution's spellings (`connection.update`,
    /// `CONNECTION_UPDATE` and `connection-update` are one event).
    #[schema(example = "connection.update")]
    event: String,
    /// The Evolution instance the event is about.
    #[schema(example = "tenant-5-ab12cd34")]
    instance: String,
    /// The event's data. A `connection.update` needs an object here, whose `state`,
    /// when it is a string, is `open`, `connecting`, `close`, `closed` or `refused`
    /// (400 otherwise); every other event takes any JSON value.
    #[schema(value_type = Option<Value>)]
    data: Option<Value>,
}

/// Evolution API's webhook envelope in its by-events form: as
/// `EvolutionWebhookEnvelope`, but the event may be left out (or `null`), the URL's last
/// segment naming it.
#[derive(ToSchema)]
#[schema(example = json!({"instance": "tenant-5-ab12cd34",
    "data": {"instance": "tenant-5-ab12cd34", "state": "open", "statusReason": 200}}))]
#[allow(dead_code)] // documents the body `inbound::parse` reads
pub struct EvolutionWebhookByEventEnvelope {
    /// The event; when left out or `null`, the one the URL names.
    #[schema(example = "connection.update")]
    event: Option<String>,
    /// The Evolution instance the event is about.
    #[schema(example = "tenant-5-ab12cd34")]
    instance: String,
    /// The event's data. A `connection.update` needs an object here, whose `state`,
    /// when it is a string, is `open`, `connecting`, `close`, `closed` or `refused`
    /// (400 otherwise); every other event takes any JSON value.
    #[schema(value_type = Option<Value>)]
    data: Option<Value>,
}

/// What a webhook call answers when Relevo takes nothing from it, on either path.
#[derive(utoipa::IntoResponses)]
pub enum WebhookRefusals {
    #[response(
        status = 400,
        description = "Not Evolution's envelope: not a JSON object, no `event` or `instance` name, or a `connection.update` without a `data` object or with an unknown `state` (`request.malformed`)"
    )]
    Malformed(ErrorBody),
    #[response(
        status = 401,
        description = "Unknown token: nothing changed (`{\"message\": \"Unauthenticated.\"}`)"
    )]
    UnknownToken(ErrorBody),
    #[response(status = 413, description = "Body above 1 MiB (`request.too_large`)")]
    TooLarge(ErrorBody),
    #[response(
        status = 422,
        description = "A field longer than Relevo keeps (`data.wuid`, `data.profileName`, `data.qrcode.*`, `instance`)"
    )]
    TooLong(ValidationErrorBody),
}

/// Receives an event of Evolution API's webhook.
///
/// SPEC §8: the envelope `{event, instance, data, destination, date_time, sender,
/// server_url, apikey}` Evolution posts for an instance whose webhook provisioning
/// pointed here. Called by Evolution, not by people: no bearer token, the instance's own
/// secret token is the last path segment, and it speaks for that instance only (an event
/// naming another instance is ignored and changes nothing). Handles `connection.update`,
/// `qrcode.updated`, `logout.instance`, `remove.instance`, `messages.upsert` and
/// `messages.update`; every other event is accepted and ignored. Bodies up to 1 MiB
/// (a larger `Content-Length` is refused before the body is read); text fields are
/// bounded (JIDs 128 characters, profile names 256, QR images 64 KiB: 422 beyond).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "receive_evolution_webhook",
    params(("token" = String, Path, description = "The instance's own webhook token (in the URL provisioning or a rotation set on Evolution)")),
    request_body = EvolutionWebhookEnvelope,
    responses(
        (status = 200, description = "Received (`outcome` says whether it changed the instance)", body = DataBody<InboundReceipt>),
        WebhookRefusals,
    )
)]
#[post("/webhooks/evolution/{token}")]
pub async fn receive_evolution_webhook(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<web::Json<DataBody<InboundReceipt>>, ApiError> {
    receive(&state, &request, path.into_inner(), None, body).await
}

/// Receives an event of Evolution API's webhook in its by-events form.
///
/// `webhook_by_events`: the event's name, kebab-cased, is the last path segment
/// (`/connection-update`, `/qrcode-updated`); it is used when the envelope names no
/// `event`. Otherwise as `receive_evolution_webhook`.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "receive_evolution_webhook_by_event",
    params(
        ("token" = String, Path, description = "The instance's own webhook token"),
        ("event" = String, Path, description = "The event, kebab-cased (`connection-update`)"),
    ),
    request_body = EvolutionWebhookByEventEnvelope,
    responses(
        (status = 200, description = "Received (`outcome` says whether it changed the instance)", body = DataBody<InboundReceipt>),
        WebhookRefusals,
    )
)]
#[post("/webhooks/evolution/{token}/{event}")]
pub async fn receive_evolution_webhook_by_event(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<web::Json<DataBody<InboundReceipt>>, ApiError> {
    let (token, event) = path.into_inner();
    receive(&state, &request, token, Some(event), body).await
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKey::RequestTooLarge,
        format!(
            "The request body is larger than {} KiB.",
            MAX_BODY_BYTES / 1024
        ),
    )
}

async fn receive(
    state: &AppState,
    request: &HttpRequest,
    token: String,
    path_event: Option<String>,
    body: web::Payload,
) -> Result<web::Json<DataBody<InboundReceipt>>, ApiError> {
    // A declared length above the limit is refused before waiting for the body.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = match body.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(read) => read.map_err(|error| {
            ApiError::malformed(format!("The request body could not be read: {error}"))
        })?,
        Err(_) => return Err(too_large()),
    };
    let (event, outcome) = inbound::receive(state, token, &bytes, path_event.as_deref()).await?;
    let receipt = InboundReceipt {
        event: event.key,
        instance: event.instance,
        outcome,
    };
    Ok(web::Json(DataBody::new(receipt)))
}
