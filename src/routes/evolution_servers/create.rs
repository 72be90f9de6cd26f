use actix_web::http::StatusCode;
use actix_web::{post, web};

use super::{
    audit_snapshot, base_url_taken, CreateEvolutionServerBody, ServerBody, ServerResource,
};
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::error::ApiError;
use crate::i18n::Locale;
use crate::input::JsonObject;
use crate::registry::evolution_servers::{self, CreateOutcome};
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Adds an Evolution API server.
///
/// The first one becomes the default unless `is_default` says otherwise. A `base_url`
/// already registered is a 422 on `base_url`.
///
/// 409: Another request changed the default server meanwhile; try again.
#[utoipa::path(
    tag = "evolution-servers",
    request_body = CreateEvolutionServerBody,
    security(("bearer" = [])),
    responses(
        (status = 201, body = MessageDataBody<ServerResource>),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[post("/evolution-servers")]
pub async fn create_server(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    body: JsonObject<CreateEvolutionServerBody>,
) -> Result<(web::Json<MessageDataBody<ServerResource>>, StatusCode), ApiError> {
    let body = ServerBody::from(body.0);
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let new = match body.parse_new(&state.cipher, &state.targets) {
        Ok(new) => new,
        Err(refused) => {
            return Err(evolution_servers::refusal(&state, refused, None)
                .await?
                .into_error(locale))
        }
    };
    match evolution_servers::create(&state, auditor, new, audit_snapshot).await? {
        CreateOutcome::Created(server) => Ok((
            web::Json(MessageDataBody::new(
                ServerResource::from(&server),
                "Evolution server created successfully",
            )),
            StatusCode::CREATED,
        )),
        CreateOutcome::BaseUrlTaken => Err(base_url_taken(locale)),
    }
}
