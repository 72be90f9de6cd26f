use actix_web::{get, web};

use super::AuthUserResource;
use crate::auth::AuthUser;
use crate::db::users;
use crate::error::ApiError;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// The user the token belongs to.
///
/// A token of a deleted user is no longer accepted here; a sender token gets 403.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<AuthUserResource>))
)]
#[get("/auth/me")]
pub async fn me(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<web::Json<DataBody<AuthUserResource>>, ApiError> {
    let id = user.user_id;
    let found = state
        .db(move |conn| Ok(users::find(conn, id)?))
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(web::Json(DataBody::new(AuthUserResource::from(&found))))
}
