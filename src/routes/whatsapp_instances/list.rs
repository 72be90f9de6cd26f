use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{tenant_today, Detail, InstanceResource};
use crate::auth::AuthUser;
use crate::db::instances::{self, InstanceFilter};
use crate::db::tenants::Tenant;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::routes::managed_tenant;
use crate::routes::wire::{parse_page, query_boolean, Paginated};
use crate::state::AppState;

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TenantInstancesQuery {
    /// Only active (`true`) or inactive (`false`) instances.
    #[param(value_type = Option<bool>)]
    pub is_active: Option<String>,
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 15).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), TenantInstancesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Instances of the tenant, without keys", body = inline(Paginated<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "Invalid filter or page", body = ErrorBody),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances")]
pub async fn list_instances(
    state: web::Data<AppState>,
    user: AuthUser,
    locale: Locale,
    path: web::Path<String>,
    query: web::Query<TenantInstancesQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner()).await?;
    respond_with_tenant_page(&state, tenant, &query, locale).await
}

/// The list of one tenant's instances, shared with the tenant users' own path.
pub async fn respond_with_tenant_page(
    state: &AppState,
    tenant: Tenant,
    query: &TenantInstancesQuery,
    locale: Locale,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let filter = InstanceFilter {
        tenant_id: Some(tenant.id),
        is_active: query_boolean(&query.is_active, "is_active", &mut errors),
        ..InstanceFilter::default()
    };
    let page = parse_page(&query.page, &query.per_page, &mut errors);
    errors.into_result(locale)?;

    let (rows, total) = state
        .db(move |conn| Ok(instances::list(conn, &filter, page)?))
        .await?;
    let today = tenant_today(state, &tenant);
    let data = rows
        .into_iter()
        .map(|(instance, tenant)| {
            InstanceResource::build(instance, &tenant, today, Detail::Summary)
        })
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(data, total, page)))
}
