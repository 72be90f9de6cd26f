use actix_web::{post, web, HttpResponse};

use super::remote::{audit, reachable, respond, EvolutionFailures, InstanceWithQr};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Restarts the instance (`POST /instance/restart`, POST in v2). Evolution answers a QR
/// code or the new state; it refuses (`{"error": true}`) an instance that is not
/// connected, which is then `disconnected` here and a 409.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceWithQr>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_not_connected` (use connect), or `evolution.instance_missing`", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/restart")]
pub async fn restart_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = reachable(&state, &user, tenant_key, id).await?;
    let audit = audit(&state, &user, request_id);
    let updated = instance::restart(&state, &target, audit).await?;
    respond(
        &state,
        &target.tenant,
        updated,
        true,
        "WhatsApp instance restarted",
    )
}
