use actix_web::{post, web, HttpResponse};

use super::remote::{audit, reachable, respond, EvolutionFailures};
use super::InstanceResource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Logs WhatsApp out (`DELETE /instance/logout`); the instance stays on Evolution and can
/// be connected again. Logging out an instance that is not connected also succeeds.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_missing`: Evolution no longer has the instance (now `error`)", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/logout")]
pub async fn logout_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = reachable(&state, &user, tenant_key, id).await?;
    let audit = audit(&state, &user, request_id);
    let updated = instance::logout(&state, &target, audit).await?;
    respond(
        &state,
        &target.tenant,
        updated,
        false,
        "WhatsApp instance logged out",
    )
}
