use actix_web::{post, web};

use super::remote::{audit, reachable, respond, EvolutionFailures};
use super::{InstanceListItem, InstancePath};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Logs an instance's WhatsApp out.
///
/// Calls `DELETE /instance/logout`; the instance stays on Evolution and can be connected
/// again. Done only when Evolution did it: for an instance that is not connected (it may
/// be looping while it reconnects, its session alive) Evolution refuses, and the answer is
/// a 409 `evolution.instance_not_connected` that changes nothing.
///
/// 409: `evolution.instance_not_connected`: Evolution refused, the instance is not
/// connected (nothing changed); `evolution.instance_missing`: Evolution no longer has the
/// instance (now `error`); `evolution.server_inactive`: an admin deactivated the
/// instance's Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"WhatsApp instance logged out\"", body = MessageDataBody<InstanceListItem>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/logout")]
pub async fn logout_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    path: web::Path<InstancePath>,
) -> Result<web::Json<MessageDataBody<InstanceListItem>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let audit = audit(&state, &user, request_id);
    let updated = instance::logout(&state, &target, audit).await?;
    Ok(respond(
        &state,
        &target.tenant,
        updated,
        "WhatsApp instance logged out",
    ))
}
