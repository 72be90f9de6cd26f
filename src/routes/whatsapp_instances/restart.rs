use actix_web::{post, web, HttpResponse};

use super::remote::{EvolutionFailures, InstanceWithQr, Reachable};
use crate::audit::{Action, Auditor};
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::evolution::{EvolutionError, RemoteState};
use crate::lifecycle::status::{connect_changes, status_changes};
use crate::request_id::RequestId;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// Restarts the instance (`POST /instance/restart`, POST in v2). Evolution answers a QR
/// code or the new state; it refuses (`{"error": true}`) an instance that is not
/// connected, which is then `disconnected` here and a 409.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceWithQr>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_not_connected` (use connect), or `evolution.instance_missing`", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/restart")]
pub async fn restart_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let target = Reachable::find(&state, &user, tenant_key, id).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let now = state.clock.now().naive_utc();
    match target.client.restart(target.name()).await {
        Ok(answer) => {
            let changes = connect_changes(&target.instance, answer, now);
            let updated = target
                .record_audited(&state, changes, auditor, Action::InstanceRestart)
                .await?;
            target.respond(&state, updated, true, "WhatsApp instance restarted")
        }
        Err(EvolutionError::Refused(reason)) => {
            let changes = status_changes(&target.instance, Some(RemoteState::Close), now);
            target.record(&state, changes).await?;
            Err(ApiError::conflict(
                "evolution.instance_not_connected",
                format!(
                    "Evolution API server `{}` cannot restart `{}`, which is not connected ({reason}); connect it instead",
                    target.server.name,
                    target.name()
                ),
            ))
        }
        Err(error) => Err(target.failure(&state, error).await),
    }
}
