use actix_web::{delete, web, HttpResponse};

use crate::auth::AuthUser;
use crate::db::sender_tokens;
use crate::error::{ApiError, ErrorBody, Resource};
use crate::routes::managed_tenant;
use crate::routes::wire::MessageBody;
use crate::startup::AppState;

/// Revokes a sender token; its next request is refused.
#[utoipa::path(
    tag = "sender-tokens",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[delete("/tenants/{tenant}/sender-tokens/{id}")]
pub async fn delete_sender_token(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    let tenant_id = tenant.id;
    let deleted = state
        .write(move |conn| Ok(sender_tokens::delete(conn, tenant_id, id)?))
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found(Resource::SenderToken));
    }
    Ok(HttpResponse::Ok().json(MessageBody {
        message: "Sender token revoked".into(),
    }))
}
