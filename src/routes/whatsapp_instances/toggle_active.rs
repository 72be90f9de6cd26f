use actix_web::{post, web, HttpResponse};

use super::{audit_snapshot, tenant_today, Detail, InstanceResource};
use crate::audit::{Action, Auditor};
use crate::auth::AuthUser;
use crate::db::instances;
use crate::error::{ApiError, ErrorBody, Resource};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::{DataBody, MessageDataBody};
use crate::state::AppState;

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
    request_id: RequestId,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant_key).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let now = state.clock.now().naive_utc();
    let today = tenant_today(&state, &tenant);
    let audited_tenant = tenant.clone();
    let toggled = state
        .transaction(move |conn| {
            let tenant = &audited_tenant;
            let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                return Ok(None);
            };
            let toggled = instances::toggle_active(conn, id, now)?;
            let action = if toggled.is_active {
                Action::InstanceActivated
            } else {
                Action::InstanceDeactivated
            };
            auditor.record(
                conn,
                action,
                id,
                Some(tenant.id),
                Some(audit_snapshot(&before, tenant, today)?),
                Some(audit_snapshot(&toggled, tenant, today)?),
            )?;
            Ok(Some(toggled))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::WhatsappInstance))?;
    let message = if toggled.is_active {
        "WhatsApp instance activated"
    } else {
        "WhatsApp instance deactivated"
    };
    let resource = InstanceResource::build(toggled, &tenant, today, Detail::Summary)?;
    Ok(HttpResponse::Ok().json(MessageDataBody::new(resource, message)))
}
