use actix_web::{post, web, HttpResponse};

use super::{find_instance, tenant_today, Detail, InstanceResource};
use crate::auth::AuthUser;
use crate::db::instances;
use crate::error::{ApiError, ErrorBody};
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::startup::AppState;

/// Flips `is_active`. The message says which way it went.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"WhatsApp instance activated\" or \"WhatsApp instance deactivated\"", body = inline(DataBody<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/toggle-active")]
pub async fn toggle_active(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    find_instance(&state, tenant.id, id).await?;
    let now = state.clock.now().naive_utc();
    let toggled = state
        .write(move |conn| Ok(instances::toggle_active(conn, id, now)?))
        .await?;
    let message = if toggled.is_active {
        "WhatsApp instance activated"
    } else {
        "WhatsApp instance deactivated"
    };
    let today = tenant_today(&state, &tenant);
    let resource = InstanceResource::build(toggled, &tenant, today, Detail::Summary)?;
    Ok(HttpResponse::Ok().json(DataBody::with_message(resource, message)))
}
