use actix_web::{delete, web};

use super::{audit_snapshot, find_server, has_instances};
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::error::ApiError;
use crate::registry::evolution_servers::{self, DeleteOutcome};
use crate::request_id::RequestId;
use crate::routes::wire::MessageBody;
use crate::state::AppState;

/// Deletes an Evolution API server.
///
/// A server that instances still live on is kept (409).
///
/// 409: Instances still live on the server (`evolution_server.has_instances`,
/// `error_params.instances`).
#[utoipa::path(
    tag = "evolution-servers",
    params(("id" = i64, Path, description = "Evolution server id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[delete("/evolution-servers/{id}")]
pub async fn delete_server(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    path: web::Path<i64>,
) -> Result<web::Json<MessageBody>, ApiError> {
    let server = find_server(&state, path.into_inner()).await?;
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    match evolution_servers::delete(&state, auditor, server.id, audit_snapshot).await? {
        DeleteOutcome::Deleted => Ok(web::Json(MessageBody {
            message: "Evolution server deleted successfully".into(),
        })),
        DeleteOutcome::HasInstances(count) => Err(has_instances(count)),
    }
}
