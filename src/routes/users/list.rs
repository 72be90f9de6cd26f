use actix_web::{get, web, HttpResponse};

use super::UserResource;
use crate::auth::SuperAdmin;
use crate::db::users;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::routes::wire::{PageQuery, Paginated};
use crate::state::AppState;

#[utoipa::path(
    tag = "users",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(Paginated<UserResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let (rows, total) = state.db(move |conn| Ok(users::list(conn, page)?)).await?;
    let data = rows.iter().map(UserResource::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, total, page)))
}
