use actix_web::{delete, web, HttpResponse};

use super::find_instance;
use crate::auth::AuthUser;
use crate::db::instances;
use crate::error::{ApiError, ErrorBody};
use crate::routes::managed_tenant;
use crate::routes::wire::MessageBody;
use crate::startup::AppState;

#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[delete("/tenants/{tenant}/whatsapp-instances/{id}")]
pub async fn delete_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    find_instance(&state, tenant.id, id).await?;
    state
        .db(move |conn| Ok(instances::delete(conn, id)?))
        .await?;
    Ok(HttpResponse::Ok().json(MessageBody {
        message: "WhatsApp instance deleted successfully".into(),
    }))
}
