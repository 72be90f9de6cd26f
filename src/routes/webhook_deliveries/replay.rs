use actix_web::http::StatusCode;
use actix_web::{post, web};

use super::WebhookDelivery;
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::error::{ApiError, Resource};
use crate::events::replay::{replay_delivery, ReplayOutcome};
use crate::request_id::RequestId;
use crate::routes::visible_tenant;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Sends an event again: it is due at once, as a new attempt, with a fresh set of
/// attempts if that one fails.
///
/// The delivery worker sends it (within `RELEVO_WEBHOOK_POLL_MS`), with the same id and
/// body as before and a new signature. Works on delivered, failed and pending events.
#[utoipa::path(
    tag = "webhook-deliveries",
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        ("id" = String, Path, description = "The event's id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued for delivery now", body = MessageDataBody<WebhookDelivery>),
    )
)]
#[post("/tenants/{tenant}/webhook-deliveries/{id}/replay")]
pub async fn replay_webhook_delivery(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<(web::Json<MessageDataBody<WebhookDelivery>>, StatusCode), ApiError> {
    let (tenant_key, event_id) = path.into_inner();
    let tenant = visible_tenant(&state, &admin.0, tenant_key).await?;
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let replayed = match replay_delivery(&state, auditor, tenant.id, event_id).await? {
        ReplayOutcome::Replayed(event) => *event,
        ReplayOutcome::NotFound => return Err(ApiError::not_found(Resource::WebhookDelivery)),
    };
    Ok((
        web::Json(MessageDataBody::new(
            WebhookDelivery::try_from(replayed)?,
            "Webhook delivery queued for replay",
        )),
        StatusCode::ACCEPTED,
    ))
}
