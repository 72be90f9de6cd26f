use actix_web::{delete, web};

use super::audit_snapshot;
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::error::{ApiError, ErrorKey, Resource};
use crate::registry::users::{self, DeleteOutcome};
use crate::request_id::RequestId;
use crate::routes::wire::MessageBody;
use crate::state::AppState;

/// Deletes a user.
///
/// Super admins cannot delete themselves (Relevo would be left without one).
///
/// 409: A super admin cannot delete itself (`user.cannot_delete_self`), and Relevo keeps
/// at least one super admin (`user.last_super_admin`, also when two delete each other at
/// once).
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    path: web::Path<i64>,
) -> Result<web::Json<MessageBody>, ApiError> {
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    match users::delete(&state, auditor, path.into_inner(), audit_snapshot).await? {
        DeleteOutcome::Deleted => Ok(web::Json(MessageBody {
            message: "User deleted successfully".into(),
        })),
        DeleteOutcome::NotFound => Err(ApiError::not_found(Resource::User)),
        DeleteOutcome::OwnAccount => Err(ApiError::conflict(
            ErrorKey::UserCannotDeleteSelf,
            "You cannot delete your own account",
        )),
    }
}
