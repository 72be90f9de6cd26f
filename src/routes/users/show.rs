use actix_web::{get, web};

use super::UserResource;
use crate::auth::SuperAdmin;
use crate::db::users;
use crate::error::{ApiError, Resource};
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// One user.
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<UserResource>))
)]
#[get("/users/{id}")]
pub async fn show_user(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    path: web::Path<i64>,
) -> Result<web::Json<DataBody<UserResource>>, ApiError> {
    let id = path.into_inner();
    let user = state
        .db(move |conn| Ok(users::find(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::User))?;
    Ok(web::Json(DataBody::new(UserResource::from(&user))))
}
