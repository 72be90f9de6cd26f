use actix_web::{get, web, HttpResponse};

use super::TenantResource;
use crate::auth::SuperAdmin;
use crate::db::tenants;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::routes::wire::{PageQuery, Paginated};
use crate::state::AppState;

#[utoipa::path(
    tag = "tenants",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(Paginated<TenantResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
#[get("/tenants")]
pub async fn list_tenants(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let (rows, total) = state.db(move |conn| Ok(tenants::list(conn, page)?)).await?;
    let data = rows.iter().map(TenantResource::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, total, page)))
}
