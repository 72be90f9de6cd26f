use actix_web::{delete, web};

use super::SenderTokenResource;
use crate::audit::{self, Action, Auditor};
use crate::auth::AuthUser;
use crate::db::sender_tokens;
use crate::error::{ApiError, Resource};
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
    let tenant_id = tenant.id;
    let deleted = state
        .transaction(move |conn| {
            let Some(token) = sender_tokens::delete(conn, tenant_id, id)? else {
                return Ok(None);
            };
            let before = audit::snapshot(&SenderTokenResource::from(&token))?;
            auditor.record(
                conn,
                Action::SenderTokenRevoked,
                token.id,
                Some(tenant_id),
                Some(before),
                None,
            )?;
            Ok(Some(token))
        })
        .await?;
    if deleted.is_none() {
        return Err(ApiError::not_found(Resource::SenderToken));
    }
    Ok(web::Json(MessageBody {
        message: "Sender token revoked".into(),
    }))
}
