//! Seed 001's tenant-implicit paths: a tenant user reads its own tenant's instances
//! and statistics, without keys. Managing instances stays with super admins.

use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::list::{tenant_page, TenantInstancesQuery};
use super::{
    find_instance, statistics_with_history, tenant_today, InstanceListItem,
    InstanceStatisticsWithHistory,
};
use crate::auth::AuthUser;
use crate::db::tenants::Tenant;
use crate::error::ApiError;
use crate::i18n::Locale;
use crate::routes::visible_tenant;
use crate::routes::wire::{DataBody, PageQuery, Paginated};
use crate::state::AppState;

/// `/tenant/whatsapp-instances/{id}...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OwnInstancePath {
    /// The instance's id.
    #[param(example = 1)]
    pub id: i64,
}

/// The caller's own tenant; a token bound to no tenant (a super admin's) has none.
async fn own_tenant(state: &AppState, user: &AuthUser) -> Result<Tenant, ApiError> {
    let tenant_id = user.tenant_id.ok_or_else(ApiError::forbidden)?;
    visible_tenant(state, user, tenant_id.to_string()).await
}

/// Lists the caller's own tenant's instances.
///
/// For tenant users; without keys, oldest first.
#[utoipa::path(
    tag = "tenant (own)",
    params(TenantInstancesQuery, PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of the tenant's instances", body = Paginated<InstanceListItem>),
        (status = 403, description = "The token is not bound to a tenant (a super admin's)", body = crate::error::ErrorBody),
    )
)]
#[get("/tenant/whatsapp-instances")]
pub async fn list_own_instances(
    state: web::Data<AppState>,
    user: AuthUser,
    locale: Locale,
    query: web::Query<TenantInstancesQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<InstanceListItem>>, ApiError> {
    let tenant = own_tenant(&state, &user).await?;
    tenant_page(&state, tenant, &query, &page, locale)
        .await
        .map(web::Json)
}

/// Shows one of the caller's own tenant's instances.
///
/// For tenant users; without its key.
#[utoipa::path(
    tag = "tenant (own)",
    params(OwnInstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The instance, without its key", body = DataBody<InstanceListItem>),
        (status = 403, description = "The token is not bound to a tenant (a super admin's)", body = crate::error::ErrorBody),
    )
)]
#[get("/tenant/whatsapp-instances/{id}")]
pub async fn show_own_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<OwnInstancePath>,
) -> Result<web::Json<DataBody<InstanceListItem>>, ApiError> {
    let tenant = own_tenant(&state, &user).await?;
    let instance = find_instance(&state, tenant.id, path.id).await?;
    let today = tenant_today(&state, &tenant);
    Ok(web::Json(DataBody::new(InstanceListItem::build(
        instance, &tenant, today,
    ))))
}

/// Shows the statistics of one of the caller's own tenant's instances.
///
/// For tenant users: today's usage and the last 30 days.
#[utoipa::path(
    tag = "tenant (own)",
    params(OwnInstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataBody<InstanceStatisticsWithHistory>),
        (status = 403, description = "The token is not bound to a tenant (a super admin's)", body = crate::error::ErrorBody),
    )
)]
#[get("/tenant/whatsapp-instances/{id}/statistics")]
pub async fn own_instance_statistics(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<OwnInstancePath>,
) -> Result<web::Json<DataBody<InstanceStatisticsWithHistory>>, ApiError> {
    let tenant = own_tenant(&state, &user).await?;
    let instance = find_instance(&state, tenant.id, path.id).await?;
    let today = tenant_today(&state, &tenant);
    let statistics = statistics_with_history(&state, &instance, today).await?;
    Ok(web::Json(DataBody::new(statistics)))
}
