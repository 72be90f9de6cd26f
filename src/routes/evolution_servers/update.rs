use actix_web::{put, web};

use super::{
    audit_snapshot, check_base_url, find_server, from_write_error, ServerBody, ServerResource,
    UpdateEvolutionServerBody,
};
use crate::audit::{Action, Auditor};
use crate::auth::SuperAdmin;
use crate::db::{evolution_servers, write_transaction};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::input::JsonObject;
use crate::request_id::RequestId;
use crate::routes::require_key_on_new_origin;
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
    let mut errors = FieldErrors::default();
    let mut changes = body.parse(&state.cipher, &state.targets, &mut errors);
    if let (Some(to), Some(_)) = (changes.base_url.as_deref(), &server.api_key_encrypted) {
        require_key_on_new_origin(
            &mut errors,
            ("base_url", Some(&server.base_url), Some(to)),
            ("api_key", &body.api_key),
        );
    }
    changes.updated_at = Some(state.clock.now().naive_utc());
    let updated = state
        .transaction(move |conn| {
            check_base_url(
                conn,
                changes.base_url.as_deref(),
                Some(server.id),
                &mut errors,
            )?;
            errors.into_result(locale)?;
            let updated = write_transaction(conn, |conn| {
                let before = evolution_servers::find_for_update(conn, server.id)?
                    .ok_or(diesel::result::Error::NotFound)?;
                let before = audit_snapshot(conn, &before)?;
                let updated = evolution_servers::update(conn, server.id, &changes)?;
                let after = audit_snapshot(conn, &updated)?;
                auditor.record(
                    conn,
                    Action::EvolutionServerUpdated,
                    server.id,
                    None,
                    Some(before),
                    Some(after),
                )?;
                Ok(updated)
            })
            .map_err(|e| from_write_error(e, locale))?;
            ServerResource::load(conn, &updated)
        })
        .await?;
    Ok(web::Json(MessageDataBody::new(
        updated,
        "Evolution server updated successfully",
    )))
}
