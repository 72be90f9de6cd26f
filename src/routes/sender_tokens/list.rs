use actix_web::{get, web};

use super::SenderTokenResource;
use crate::auth::AuthUser;
use crate::db::sender_tokens;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::managed_tenant;
use crate::routes::wire::{PageQuery, Paginated};
use crate::state::AppState;

/// The tenant's sender tokens, without the tokens themselves.
#[utoipa::path(
    tag = "sender-tokens",
    params(("tenant" = String, Path, description = "Tenant id or slug"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Paginated<SenderTokenResource>))
)]
#[get("/tenants/{tenant}/sender-tokens")]
pub async fn list_sender_tokens(
    state: web::Data<AppState>,
    user: AuthUser,
    locale: Locale,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<SenderTokenResource>>, ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner()).await?;
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let tenant_id = tenant.id;
    let (rows, total) = state
        .db(move |conn| Ok(sender_tokens::list(conn, tenant_id, page)?))
        .await?;
    let data = rows.iter().map(SenderTokenResource::from).collect();
    Ok(web::Json(Paginated::new(data, total, page)))
}
