use actix_web::{post, web, HttpResponse};

use super::remote::{EvolutionFailures, Reachable};
use super::InstanceResource;
use crate::audit::{Action, Auditor};
use crate::auth::AuthUser;
use crate::db::remote_instances::RemoteChanges;
use crate::error::{ApiError, ErrorBody};
use crate::evolution::RemoteState;
use crate::lifecycle::status::status_changes;
use crate::request_id::RequestId;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Logs WhatsApp out (`DELETE /instance/logout`); the instance stays on Evolution and can
/// be connected again. Logging out an instance that is not connected also succeeds.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_missing`: Evolution no longer has the instance (now `error`)", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/logout")]
pub async fn logout_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = Reachable::find(&state, &user, tenant_key, id).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    match target.client.logout(target.name()).await {
        Ok(()) => {}
        // 400 `The "x" instance is not connected`: already where logout leads.
        Err(error)
            if error.status() == Some(400) && error.to_string().contains("not connected") => {}
        Err(error) => return Err(target.failure(&state, error).await),
    }
    let now = state.clock.now().naive_utc();
    let changes = RemoteChanges {
        qr_code: Some(None),
        qr_code_base64: Some(None),
        pairing_code: Some(None),
        qr_updated_at: Some(None),
        ..status_changes(&target.instance, Some(RemoteState::Close), now)
    };
    let updated = target
        .record_audited(&state, changes, auditor, Action::InstanceLogout)
        .await?;
    target.respond(&state, updated, false, "WhatsApp instance logged out")
}
