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

/// Activates or deactivates an instance.
///
/// Flips `is_active`; the message says which way it went.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"WhatsApp instance activated\" or \"WhatsApp instance deactivated\"", body = MessageDataBody<InstanceListItem>),
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/toggle-active")]
pub async fn toggle_active(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<InstancePath>,
) -> Result<web::Json<MessageDataBody<InstanceListItem>>, ApiError> {
    let InstancePath { tenant, id } = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let today = tenant_today(&state, &tenant);
    let toggled =
        instances::toggle_active(&state, auditor, tenant.clone(), id, today, audit_snapshot)
            .await?
            .ok_or_else(|| ApiError::not_found(Resource::WhatsappInstance))?;
    let message = if toggled.is_active {
        "WhatsApp instance activated"
    } else {
        "WhatsApp instance deactivated"
    };
    let resource = InstanceListItem::build(toggled, &tenant, today);
    Ok(web::Json(MessageDataBody::new(resource, message)))
}
