use actix_web::http::StatusCode;
use actix_web::{post, web};

use super::{
    audit_snapshot, check_base_url, from_write_error, CreateEvolutionServerBody, ServerBody,
    ServerResource,
};
use crate::audit::{Action, Auditor};
use crate::auth::SuperAdmin;
use crate::db::evolution_servers::{self, NewEvolutionServer};
use crate::db::write_transaction;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::JsonObject;
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
    let mut errors = FieldErrors::default();
    for (field, input) in [
        ("name", &body.name),
        ("base_url", &body.base_url),
        ("api_key", &body.api_key),
    ] {
        if input.is_absent() {
            errors.add(field, Msg::Required);
        }
    }
    let fields = body.parse(&state.cipher, &state.targets, &mut errors);
    let now = state.clock.now().naive_utc();
    let created = state
        .transaction(move |conn| {
            check_base_url(conn, fields.base_url.as_deref(), None, &mut errors)?;
            // A missing name or base URL was reported in `errors`.
            let (Some(name), Some(base_url)) = (fields.name, fields.base_url) else {
                return Err(errors.into_error(locale));
            };
            errors.into_result(locale)?;
            let is_default = match fields.is_default {
                Some(is_default) => is_default,
                None => evolution_servers::default_server(conn)?.is_none(),
            };
            let new = NewEvolutionServer {
                name,
                base_url,
                api_key_encrypted: fields.api_key_encrypted.flatten(),
                is_active: fields.is_active.unwrap_or(true),
                is_default,
                created_at: now,
                updated_at: now,
            };
            let server = write_transaction(conn, |conn| {
                let server = evolution_servers::insert(conn, &new)?;
                let after = audit_snapshot(conn, &server)?;
                auditor.record(
                    conn,
                    Action::EvolutionServerCreated,
                    server.id,
                    None,
                    None,
                    Some(after),
                )?;
                Ok(server)
            })
            .map_err(|e| from_write_error(e, locale))?;
            ServerResource::load(conn, &server)
        })
        .await?;
    Ok((
        web::Json(MessageDataBody::new(
            created,
            "Evolution server created successfully",
        )),
        StatusCode::CREATED,
    ))
}
