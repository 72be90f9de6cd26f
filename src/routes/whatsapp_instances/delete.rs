use actix_web::{delete, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::remote::EvolutionFailures;
use super::{audit_snapshot, find_instance, InstancePath};
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::lifecycle;
use crate::lifecycle::instance::{Audit, Deletion};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::{query_boolean, MessageBody};
use crate::state::AppState;

/// The answer when Evolution deleted the instance but refused every logout of its
/// reconnecting connection.
const MAY_KEEP_RECONNECTING: &str = "WhatsApp instance deleted. Evolution refused to log its WhatsApp session out while it kept reconnecting, so the connection may go on reconnecting on the Evolution server until that server restarts. It no longer sends webhooks to Relevo; to end it now, restart the Evolution server.";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteInstanceQuery {
    /// Delete it in Relevo even when deleting it on Evolution failed.
    #[param(value_type = Option<bool>)]
    pub force: Option<String>,
}

/// Deletes an instance.
///
/// An instance Relevo provisioned is deleted on Evolution first (a 404 there counts as
/// done); when that fails nothing is deleted, unless `force=true`. Its WhatsApp session
/// is logged out before, so nothing keeps reconnecting; when Evolution refused every
/// logout the answer says so. A registered instance is only removed from Relevo.
///
/// 409: `evolution.server_inactive`: an admin deactivated the instance's Evolution server
/// (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath, DeleteInstanceQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageBody),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[delete("/tenants/{tenant}/whatsapp-instances/{id}")]
pub async fn delete_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<InstancePath>,
    query: web::Query<DeleteInstanceQuery>,
) -> Result<web::Json<MessageBody>, ApiError> {
    let InstancePath { tenant, id } = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let mut errors = FieldErrors::default();
    let force = query_boolean(&query.force, "force", &mut errors).unwrap_or(false);
    errors.into_result(locale)?;
    let instance = find_instance(&state, tenant.id, id).await?;
    let audit = Audit::new(auditor, audit_snapshot);
    let message = match lifecycle::instance::delete(&state, tenant, instance, force, audit).await? {
        Deletion::MayKeepReconnecting => MAY_KEEP_RECONNECTING,
        Deletion::Clean | Deletion::Forced => "WhatsApp instance deleted successfully",
    };
    Ok(web::Json(MessageBody {
        message: message.into(),
    }))
}
