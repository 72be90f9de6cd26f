use actix_web::{get, web, HttpResponse};

use super::remote::{reachable, respond, EvolutionFailures};
use super::InstanceResource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::lifecycle::instance;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Asks Evolution for the live state (`GET /instance/connectionState`) and answers the
/// instance with `connection_status` and `last_checked_at` updated from it.
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
#[get("/tenants/{tenant}/whatsapp-instances/{id}/connection-state")]
pub async fn connection_state(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = reachable(&state, &user, tenant_key, id).await?;
    let updated = instance::connection_state(&state, &target).await?;
    respond(
        &state,
        &target.tenant,
        updated,
        false,
        "Connection state read from Evolution",
    )
}
