use actix_web::{get, web};

use super::{
    find_instance, statistics_with_history, tenant_today, InstancePath,
    InstanceStatisticsWithHistory,
};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Shows an instance's statistics.
///
/// Today's usage (seed 001 section 6) and the last 30 local days.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataBody<InstanceStatisticsWithHistory>),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/statistics")]
pub async fn instance_statistics(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<InstancePath>,
) -> Result<web::Json<DataBody<InstanceStatisticsWithHistory>>, ApiError> {
    let InstancePath { tenant, id } = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant).await?;
    let instance = find_instance(&state, tenant.id, id).await?;
    let today = tenant_today(&state, &tenant);
    let statistics = statistics_with_history(&state, &instance, today).await?;
    Ok(web::Json(DataBody::new(statistics)))
}
