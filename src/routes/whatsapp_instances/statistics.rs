use actix_web::{get, web, HttpResponse};

use super::{find_instance, statistics_with_history, tenant_today, InstanceStatistics};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceStatistics>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/statistics")]
pub async fn instance_statistics(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    let instance = find_instance(&state, tenant.id, id).await?;
    let today = tenant_today(&state, &tenant);
    let statistics = statistics_with_history(&state, &instance, today).await?;
    Ok(HttpResponse::Ok().json(DataBody::new(statistics)))
}
