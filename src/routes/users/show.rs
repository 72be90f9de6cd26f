use actix_web::{get, web, HttpResponse};

use super::UserResource;
use crate::auth::SuperAdmin;
use crate::db::users;
use crate::error::{ApiError, ErrorBody, Resource};
use crate::routes::wire::DataBody;
use crate::state::AppState;

#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<UserResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/users/{id}")]
pub async fn show_user(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let user = state
        .db(move |conn| Ok(users::find(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::User))?;
    Ok(HttpResponse::Ok().json(DataBody::new(UserResource::from(&user))))
}
