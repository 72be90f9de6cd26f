use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{tenant_today, Detail, InstanceResource};
use crate::auth::SuperAdmin;
use crate::db::instances::{self, InstanceFilter};
use crate::domain::ConnectionStatus;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::routes::wire::{parse_page, query_boolean, query_integer, Paginated};
use crate::state::AppState;

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AllInstancesQuery {
    #[param(value_type = Option<i64>)]
    pub tenant_id: Option<String>,
    #[param(value_type = Option<bool>)]
    pub is_active: Option<String>,
    /// `unknown`, `connecting`, `connected`, `disconnected` or `error`.
    pub connection_status: Option<String>,
    /// Part of the instance name or phone number, case-insensitive.
    pub search: Option<String>,
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 15).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

/// Every tenant's instances, without keys.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(AllInstancesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(Paginated<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, description = "Invalid filter or page", body = ErrorBody),
    )
)]
#[get("/whatsapp-instances")]
pub async fn list_all_instances(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<AllInstancesQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let connection_status = match query.connection_status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => match ConnectionStatus::parse(raw) {
            Ok(status) => Some(status.as_str().to_string()),
            Err(message) => {
                errors.add("connection_status", message);
                None
            }
        },
    };
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
    let page = parse_page(&query.page, &query.per_page, &mut errors);
    errors.into_result(locale)?;

    let (rows, total) = state
        .db(move |conn| Ok(instances::list(conn, &filter, page)?))
        .await?;
    let data = rows
        .into_iter()
        .map(|(instance, tenant)| {
            let today = tenant_today(&state, &tenant);
            InstanceResource::build(instance, &tenant, today, Detail::Summary)
        })
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(data, total, page)))
}
