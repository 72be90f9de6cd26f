use actix_web::{delete, web};

use super::audit_snapshot;
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::error::{ApiError, Resource};
use crate::registry::sender_tokens::{self, RevokeOutcome};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::MessageBody;
use crate::state::AppState;

/// Revokes a sender token.
///
/// Its very next request is refused.
#[utoipa::path(
    tag = "sender-tokens",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path, description = "Sender token id")),
    security(("bearer" = [])),
    responses((status = 200, body = MessageBody))
)]
#[delete("/tenants/{tenant}/sender-tokens/{id}")]
pub async fn delete_sender_token(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<(String, i64)>,
) -> Result<web::Json<MessageBody>, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    match sender_tokens::revoke(&state, auditor, tenant.id, id, audit_snapshot).await? {
        RevokeOutcome::Revoked => Ok(web::Json(MessageBody {
            message: "Sender token revoked".into(),
        })),
        RevokeOutcome::NotFound => Err(ApiError::not_found(Resource::SenderToken)),
    }
}
