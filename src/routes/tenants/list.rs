use actix_web::{get, web};

use super::TenantResource;
use crate::auth::SuperAdmin;
use crate::db::tenants;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::wire::{PageQuery, Paginated};
use crate::state::AppState;

/// The tenants, oldest first.
#[utoipa::path(
    tag = "tenants",
    params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Paginated<TenantResource>))
)]
#[get("/tenants")]
pub async fn list_tenants(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<TenantResource>>, ApiError> {
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let (rows, total) = state.db(move |conn| Ok(tenants::list(conn, page)?)).await?;
    let data = rows.iter().map(TenantResource::from).collect();
    Ok(web::Json(Paginated::new(data, total, page)))
}
