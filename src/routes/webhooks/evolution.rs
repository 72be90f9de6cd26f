use actix_web::http::StatusCode;
use actix_web::{post, web};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
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

/// Receives an event of Evolution API's webhook.
///
/// SPEC §8: the envelope `{event, instance, data, destination, date_time, sender,
/// server_url, apikey}` Evolution posts for an instance whose webhook provisioning
/// pointed here. Called by Evolution, not by people: no bearer token, the server's
/// secret token is the last path segment. Handles `connection.update`,
/// `qrcode.updated`, `logout.instance` and `remove.instance`; every other event is
/// accepted and ignored. An instance the server does not have in Relevo is ignored
/// (200). Bodies up to 1 MiB.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "receive_evolution_webhook",
    params(("server_token" = String, Path, description = "The Evolution server's webhook token (in the URL provisioning sets)")),
    request_body = EvolutionWebhookEnvelope,
    responses(
        (status = 200, description = "Received (`outcome` says whether it changed the instance)", body = DataBody<InboundReceipt>),
        (status = 400, description = "Not Evolution's envelope: not a JSON object, no `event` or `instance` name, or a `connection.update` without a `data` object or with an unknown `state` (`request.malformed`)", body = ErrorBody),
        (status = 401, description = "Unknown token: nothing changed (`{\"message\": \"Unauthenticated.\"}`)", body = ErrorBody),
        (status = 413, description = "Body above 1 MiB (`request.too_large`)", body = ErrorBody),
    )
)]
#[post("/webhooks/evolution/{server_token}")]
pub async fn receive_evolution_webhook(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<web::Json<DataBody<InboundReceipt>>, ApiError> {
    receive(&state, path.into_inner(), None, body).await
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
        ("server_token" = String, Path, description = "The Evolution server's webhook token"),
        ("event" = String, Path, description = "The event, kebab-cased (`connection-update`)"),
    ),
    request_body = EvolutionWebhookByEventEnvelope,
    responses(
        (status = 200, description = "Received (`outcome` says whether it changed the instance)", body = DataBody<InboundReceipt>),
        (status = 400, description = "Not Evolution's envelope: not a JSON object, no `event` or `instance` name, or a `connection.update` without a `data` object or with an unknown `state` (`request.malformed`)", body = ErrorBody),
        (status = 401, description = "Unknown token: nothing changed (`{\"message\": \"Unauthenticated.\"}`)", body = ErrorBody),
        (status = 413, description = "Body above 1 MiB (`request.too_large`)", body = ErrorBody),
    )
)]
#[post("/webhooks/evolution/{server_token}/{event}")]
pub async fn receive_evolution_webhook_by_event(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<web::Json<DataBody<InboundReceipt>>, ApiError> {
    let (token, event) = path.into_inner();
    receive(&state, token, Some(event), body).await
}

async fn receive(
    state: &AppState,
    token: String,
    path_event: Option<String>,
    body: web::Payload,
) -> Result<web::Json<DataBody<InboundReceipt>>, ApiError> {
    let bytes = match body.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(read) => read.map_err(|error| {
            ApiError::malformed(format!("The request body could not be read: {error}"))
        })?,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.too_large",
                format!(
                    "The request body is larger than {} KiB.",
                    MAX_BODY_BYTES / 1024
                ),
            ))
        }
    };
    let (event, outcome) = inbound::receive(state, token, &bytes, path_event.as_deref()).await?;
    let receipt = InboundReceipt {
        event: event.key,
        instance: event.instance,
        outcome,
    };
    Ok(web::Json(DataBody::new(receipt)))
}
