use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{tenant_today, InstanceListItem, TenantPath};
use crate::auth::AuthUser;
use crate::db::instances::{self, InstanceFilter};
use crate::db::tenants::Tenant;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::managed_tenant;
use crate::routes::wire::{query_boolean, PageQuery, Paginated};
use crate::state::AppState;

/// The filter of one tenant's instance list (with [`PageQuery`]).
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TenantInstancesQuery {
    /// Only active (`true`) or inactive (`false`) instances.
    #[param(value_type = Option<bool>)]
    pub is_active: Option<String>,
}

/// Lists a tenant's instances.
///
/// Without keys or tenant, oldest first.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(TenantPath, TenantInstancesQuery, PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of the tenant's instances", body = Paginated<InstanceListItem>),
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances")]
pub async fn list_instances(
    state: web::Data<AppState>,
    user: AuthUser,
    locale: Locale,
    path: web::Path<TenantPath>,
    query: web::Query<TenantInstancesQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<InstanceListItem>>, ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner().tenant).await?;
    tenant_page(&state, tenant, &query, &page, locale)
        .await
        .map(web::Json)
}

/// One page of one tenant's instances, shared with the tenant users' own path.
pub async fn tenant_page(
    state: &AppState,
    tenant: Tenant,
    query: &TenantInstancesQuery,
    page: &PageQuery,
    locale: Locale,
) -> Result<Paginated<InstanceListItem>, ApiError> {
    let mut errors = FieldErrors::default();
    let filter = InstanceFilter {
        tenant_id: Some(tenant.id),
        is_active: query_boolean(&query.is_active, "is_active", &mut errors),
        ..InstanceFilter::default()
    };
    let page = page.parse(&mut errors);
    errors.into_result(locale)?;

    let (rows, total) = state
        .db(move |conn| Ok(instances::list(conn, &filter, page)?))
        .await?;
    let today = tenant_today(state, &tenant);
    let data = rows
        .into_iter()
        .map(|(instance, tenant)| InstanceListItem::build(instance, &tenant, today))
        .collect();
    Ok(Paginated::new(data, total, page))
}
