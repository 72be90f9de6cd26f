use actix_web::{post, web};

use super::{audit_snapshot, tenant_today, InstanceListItem, InstancePath};
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::error::{ApiError, Resource};
use crate::registry::instances;
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Resets an instance's daily counter.
///
/// Sets today's counter (in the tenant's time zone) back to 0. This starts a new count: claims made before it can no longer be released against it,
/// so no more than the daily limit is granted after a reset.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageDataBody<InstanceListItem>),
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/reset-counter")]
pub async fn reset_counter(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<InstancePath>,
) -> Result<web::Json<MessageDataBody<InstanceListItem>>, ApiError> {
    let InstancePath { tenant, id } = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let today = tenant_today(&state, &tenant);
    let reset =
        instances::reset_counter(&state, auditor, tenant.clone(), id, today, audit_snapshot)
            .await?
            .ok_or_else(|| ApiError::not_found(Resource::WhatsappInstance))?;
    let resource = InstanceListItem::build(reset, &tenant, today);
    Ok(web::Json(MessageDataBody::new(
        resource,
        "WhatsApp instance counter reset successfully",
    )))
}
