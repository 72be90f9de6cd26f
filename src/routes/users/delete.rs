use actix_web::{delete, web, HttpResponse};

use crate::auth::SuperAdmin;
use crate::db::users;
use crate::error::{ApiError, ErrorBody, Resource};
use crate::routes::wire::MessageBody;
use crate::startup::AppState;

/// Deletes a user; super admins cannot delete themselves (Relevo would be left without one).
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A super admin cannot delete itself", body = ErrorBody),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id == admin.0.user_id {
        return Err(ApiError::conflict(
            "user.cannot_delete_self",
            "You cannot delete your own account",
        ));
    }
    let deleted = state
        .write(move |conn| Ok(users::delete(conn, id)?))
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found(Resource::User));
    }
    Ok(HttpResponse::Ok().json(MessageBody {
        message: "User deleted successfully".into(),
    }))
}
