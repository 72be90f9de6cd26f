use actix_web::{put, web};

use super::{
    audit_snapshot, base_url_taken, find_server, ServerBody, ServerResource,
    UpdateEvolutionServerBody,
};
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::error::{ApiError, Resource};
use crate::i18n::Locale;
use crate::input::JsonObject;
use crate::registry::evolution_servers::{self, UpdateOutcome};
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Changes an Evolution API server: only the fields sent.
///
/// A new `base_url` also moves the URL of the instances registered with the old one. A
/// `base_url` on another origin (scheme, host or port) needs `api_key` in the same
/// request when the server has one: the stored key is never sent to a server it was not
/// given for. A new path on the same origin keeps it.
///
/// 409: Another request changed the default server meanwhile; try again.
#[utoipa::path(
    tag = "evolution-servers",
    params(("id" = i64, Path, description = "Evolution server id")),
    request_body = UpdateEvolutionServerBody,
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageDataBody<ServerResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[put("/evolution-servers/{id}")]
pub async fn update_server(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<i64>,
    body: JsonObject<UpdateEvolutionServerBody>,
) -> Result<web::Json<MessageDataBody<ServerResource>>, ApiError> {
    let body = ServerBody::from(body.0);
    let server = find_server(&state, path.into_inner()).await?;
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let changes = match body.parse_changes(&state.cipher, &state.targets, &server) {
        Ok(changes) => changes,
        Err(refused) => {
            return Err(evolution_servers::refusal(&state, refused, Some(server.id))
                .await?
                .into_error(locale))
        }
    };
    match evolution_servers::update(&state, auditor, server.id, changes, audit_snapshot).await? {
        UpdateOutcome::Updated(server) => Ok(web::Json(MessageDataBody::new(
            ServerResource::from(&server),
            "Evolution server updated successfully",
        ))),
        UpdateOutcome::BaseUrlTaken => Err(base_url_taken(locale)),
        UpdateOutcome::NotFound => Err(ApiError::not_found(Resource::EvolutionServer)),
    }
}
