use actix_web::{get, web, HttpResponse};

use super::AuthUserResource;
use crate::auth::AuthUser;
use crate::db::users;
use crate::error::{ApiError, ErrorBody};
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// The user the token belongs to. A token of a deleted user is no longer accepted here.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = inline(DataBody<AuthUserResource>)), (status = 401, body = ErrorBody))
)]
#[get("/auth/me")]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let id = user.user_id;
    let found = state
        .db(move |conn| Ok(users::find(conn, id)?))
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(HttpResponse::Ok().json(DataBody::new(AuthUserResource::from(&found))))
}
