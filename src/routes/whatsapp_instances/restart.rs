use actix_web::{post, web};

use super::remote::{audit, reachable, respond_with_qr, EvolutionFailures, InstanceWithQr};
use super::InstancePath;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Restarts an instance on Evolution.
///
/// Calls `POST /instance/restart` (POST in v2). Evolution answers a QR code or the new
/// state. It refuses (`{"error": true}`) an instance that is not connected: a 409 that
/// changes nothing (the status stays as webhooks and the sync report it).
///
/// 409: `evolution.instance_not_connected` (use connect), or
/// `evolution.instance_missing`; `evolution.server_inactive`: an admin deactivated the
/// instance's Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"WhatsApp instance restarted\"", body = MessageDataBody<InstanceWithQr>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/restart")]
pub async fn restart_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<InstancePath>,
) -> Result<web::Json<MessageDataBody<InstanceWithQr>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let audit = audit(&state, &user, request_id);
    let updated = instance::restart(&state, &target, audit).await?;
    Ok(respond_with_qr(
        &state,
        &target.tenant,
        updated,
        "WhatsApp instance restarted",
    ))
}
