use actix_web::{post, web, HttpResponse};

use super::{find_instance, tenant_today, Detail, InstanceResource};
use crate::auth::AuthUser;
use crate::db::instances::{self, InstanceChanges};
use crate::error::{ApiError, ErrorBody};
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
use crate::startup::AppState;

/// Sets today's counter (in the tenant's time zone) back to 0.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/reset-counter")]
pub async fn reset_counter(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    find_instance(&state, tenant.id, id).await?;
    let today = tenant_today(&state, &tenant);
    let changes = InstanceChanges {
        messages_sent_today: Some(0),
        last_reset_date: Some(today),
        updated_at: Some(state.clock.now().naive_utc()),
        ..InstanceChanges::default()
    };
    let reset = state
        .write(move |conn| Ok(instances::update(conn, id, &changes)?))
        .await?;
    let resource = InstanceResource::build(reset, &tenant, today, Detail::Summary)?;
    Ok(HttpResponse::Ok().json(DataBody::with_message(
        resource,
        "WhatsApp instance counter reset successfully",
    )))
}
