use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{tenant_today, InstanceListItem};
use crate::auth::SuperAdmin;
use crate::db::instances::{self, InstanceFilter};
use crate::domain::ConnectionStatus;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::wire::{
    given, query_boolean, query_integer, query_parsed, PageQuery, Paginated,
};
use crate::state::AppState;

/// The filters of the list of every tenant's instances (with [`PageQuery`]).
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AllInstancesQuery {
    /// Only this tenant's instances.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub tenant_id: Option<String>,
    /// Only active (`true`) or inactive (`false`) instances.
    #[param(value_type = Option<bool>)]
    pub is_active: Option<String>,
    /// Only instances in this state.
    #[param(value_type = Option<ConnectionStatus>)]
    pub connection_status: Option<String>,
    /// Part of the instance name (case-insensitive) or of the phone number. Surrounding
    /// spaces are dropped; an empty value filters nothing.
    pub search: Option<String>,
}

/// Lists every tenant's instances.
///
/// Without keys or tenant, oldest first.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(AllInstancesQuery, PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of instances", body = Paginated<InstanceListItem>),
    )
)]
#[get("/whatsapp-instances")]
pub async fn list_all_instances(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<AllInstancesQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<InstanceListItem>>, ApiError> {
    let mut errors = FieldErrors::default();
    let connection_status = query_parsed(
        given(&query.connection_status),
        "connection_status",
        ConnectionStatus::parse,
        &mut errors,
    );
    let filter = InstanceFilter {
        tenant_id: query_integer(&query.tenant_id, "tenant_id", 1, i64::MAX, &mut errors),
        is_active: query_boolean(&query.is_active, "is_active", &mut errors),
        connection_status,
        search: query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    };
    let page = page.parse(&mut errors);
    errors.into_result(locale)?;

    let (rows, total) = state
        .db(move |conn| Ok(instances::list(conn, &filter, page)?))
        .await?;
    let data = rows
        .into_iter()
        .map(|(instance, tenant)| {
            let today = tenant_today(&state, &tenant);
            InstanceListItem::build(instance, &tenant, today)
        })
        .collect();
    Ok(web::Json(Paginated::new(data, total, page)))
}
