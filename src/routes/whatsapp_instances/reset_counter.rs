use actix_web::{post, web};

use super::{audit_snapshot, tenant_today, InstanceListItem, InstancePath};
use crate::audit::{Action, Auditor};
use crate::auth::AuthUser;
use crate::db::instances;
use crate::error::{ApiError, Resource};
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
    let now = state.clock.now().naive_utc();
    let audited_tenant = tenant.clone();
    let reset = state
        .transaction(move |conn| {
            let tenant = &audited_tenant;
            let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                return Ok(None);
            };
            let Some(reset) = instances::reset_counter(conn, id, today, now)? else {
                return Ok(None);
            };
            auditor.record(
                conn,
                Action::InstanceCounterReset,
                id,
                Some(tenant.id),
                Some(audit_snapshot(&before, tenant, today)?),
                Some(audit_snapshot(&reset, tenant, today)?),
            )?;
            Ok(Some(reset))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(Resource::WhatsappInstance))?;
    let resource = InstanceListItem::build(reset, &tenant, today);
    Ok(web::Json(MessageDataBody::new(
        resource,
        "WhatsApp instance counter reset successfully",
    )))
}
