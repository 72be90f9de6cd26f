use actix_web::{get, web};

use super::remote::{reachable, respond, EvolutionFailures};
use super::{InstanceListItem, InstancePath};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::lifecycle::instance;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Reads an instance's live state from Evolution.
///
/// Calls `GET /instance/connectionState` and answers the instance with
/// `connection_status` and `last_checked_at` updated from it.
///
/// 409: `evolution.instance_missing`: Evolution no longer has the instance (now `error`);
/// `evolution.server_inactive`: an admin deactivated the instance's Evolution server
/// (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"Connection state read from Evolution\"", body = MessageDataBody<InstanceListItem>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[get("/tenants/{tenant}/whatsapp-instances/{id}/connection-state")]
pub async fn connection_state(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<InstancePath>,
) -> Result<web::Json<MessageDataBody<InstanceListItem>>, ApiError> {
    let target = reachable(&state, &user, path.into_inner()).await?;
    let updated = instance::connection_state(&state, &target).await?;
    Ok(respond(
        &state,
        &target.tenant,
        updated,
        "Connection state read from Evolution",
    ))
}
