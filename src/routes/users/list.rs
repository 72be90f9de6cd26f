use actix_web::{get, web};

use super::UserResource;
use crate::auth::SuperAdmin;
use crate::db::users;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::wire::{PageQuery, Paginated};
use crate::state::AppState;

/// The users, oldest first.
#[utoipa::path(
    tag = "users",
    params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Paginated<UserResource>))
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<UserResource>>, ApiError> {
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let (rows, total) = state.db(move |conn| Ok(users::list(conn, page)?)).await?;
    let data = rows.iter().map(UserResource::from).collect();
    Ok(web::Json(Paginated::new(data, total, page)))
}
