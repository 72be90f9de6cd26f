//! Seed 001's tenant-implicit paths: a tenant user reads its own tenant's instances
//! and statistics, without keys. Managing instances stays with super admins.

use actix_web::{get, web, HttpResponse};

use super::list::{respond_with_tenant_page, TenantInstancesQuery};
use super::{
    find_instance, statistics_with_history, tenant_today, Detail, InstanceResource,
    InstanceStatistics,
};
use crate::auth::AuthUser;
use crate::db::tenants::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::i18n::Locale;
use crate::routes::visible_tenant;
use crate::routes::wire::{DataBody, Paginated};
use crate::state::AppState;

/// The caller's own tenant; a token bound to no tenant (a super admin's) has none.
async fn own_tenant(state: &AppState, user: &AuthUser) -> Result<Tenant, ApiError> {
    let tenant_id = user.tenant_id.ok_or_else(ApiError::forbidden)?;
    visible_tenant(state, user, tenant_id.to_string()).await
}

#[utoipa::path(
    tag = "tenant (own)",
    params(TenantInstancesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(Paginated<InstanceResource>)),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Token not bound to a tenant", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[get("/tenant/whatsapp-instances")]
pub async fn list_own_instances(
    state: web::Data<AppState>,
    user: AuthUser,
    locale: Locale,
    query: web::Query<TenantInstancesQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = own_tenant(&state, &user).await?;
    respond_with_tenant_page(&state, tenant, &query, locale).await
}

#[utoipa::path(
    tag = "tenant (own)",
    params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The instance, without its key", body = inline(DataBody<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/tenant/whatsapp-instances/{id}")]
pub async fn show_own_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let tenant = own_tenant(&state, &user).await?;
    let instance = find_instance(&state, tenant.id, path.into_inner()).await?;
    let today = tenant_today(&state, &tenant);
    let resource = InstanceResource::build(instance, &tenant, today, Detail::Summary)?;
    Ok(HttpResponse::Ok().json(DataBody::new(resource)))
}

#[utoipa::path(
    tag = "tenant (own)",
    params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceStatistics>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/tenant/whatsapp-instances/{id}/statistics")]
pub async fn own_instance_statistics(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let tenant = own_tenant(&state, &user).await?;
    let instance = find_instance(&state, tenant.id, path.into_inner()).await?;
    let today = tenant_today(&state, &tenant);
    let statistics = statistics_with_history(&state, &instance, today).await?;
    Ok(HttpResponse::Ok().json(DataBody::new(statistics)))
}
