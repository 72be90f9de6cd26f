use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{find_server, upstream};
use crate::auth::SuperAdmin;
use crate::error::ApiError;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// An Evolution API server that answered its `GET /`.
#[derive(Serialize, ToSchema)]
#[schema(as = EvolutionServerHealth)]
pub struct ServerHealth {
    #[schema(example = 1)]
    pub evolution_server_id: i64,
    /// Always `ok`: a server that did not answer is a 502 or a 504.
    pub status: ServerStatus,
    /// Evolution's version, as its `GET /` states it. A server whose answer has no
    /// version in that form is not taken for Evolution (502).
    #[schema(max_length = 64, example = "2.3.6")]
    pub version: String,
    /// Its `DATABASE_CONNECTION_CLIENT_NAME`; `null` when not said, or not in the form
    /// Evolution says it.
    #[schema(required = true, max_length = 64, example = "evolution")]
    pub client_name: Option<String>,
    /// `null` when not said (before 2.3), or not in the form Evolution says it.
    #[schema(required = true, max_length = 64, example = "2.3000.1028437292")]
    pub whatsapp_web_version: Option<String>,
    /// How long `GET /` took, in milliseconds.
    #[schema(example = 42)]
    pub latency_ms: u64,
    /// Whether the server's key was checked with an authenticated call (`false` when the
    /// server has no key set).
    pub api_key_checked: bool,
}

/// The answer of a server that answered.
/// `ok`: the server answers and takes its key (or has none set: instances use their
/// own); `unauthorized`: it answers but refuses the key Relevo has for it (fix its
/// `api_key`).
#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[schema(as = EvolutionServerStatus)]
pub enum ServerStatus {
    Ok,
    Unauthorized,
}

/// Calls the server's `GET /` and reports its version and the latency.
///
/// An unreachable or failing server is a 502, a slow one a 504.
#[utoipa::path(
    tag = "evolution-servers",
    params(("id" = i64, Path, description = "Evolution server id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DataBody<ServerHealth>),
        (status = 502, response = crate::openapi::responses::BadGateway),
        (status = 504, response = crate::openapi::responses::GatewayTimeout),
    )
)]
#[get("/evolution-servers/{id}/health")]
pub async fn server_health(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    path: web::Path<i64>,
) -> Result<web::Json<DataBody<ServerHealth>>, ApiError> {
    let server = find_server(&state, path.into_inner()).await?;
    // `GET /` needs no key: it says the server answers, and its version.
    let info = state
        .evolution
        .server(Some(server.id), &server.base_url, "")
        .info()
        .await
        .map_err(|error| ApiError::evolution(&upstream(&server), &error))?;
    // Only an authenticated call says the key is right.
    let key = server
        .api_key_encrypted
        .as_deref()
        .map(|sealed| state.cipher.decrypt(sealed))
        .transpose()
        .map_err(ApiError::internal)?;
    let status = match &key {
        None => ServerStatus::Ok,
        Some(key) => match state
            .evolution
            .server(Some(server.id), &server.base_url, key)
            .verify_credentials()
            .await
        {
            Ok(()) => ServerStatus::Ok,
            Err(error) if error.status() == Some(401) => ServerStatus::Unauthorized,
            Err(error) => return Err(ApiError::evolution(&upstream(&server), &error)),
        },
    };
    Ok(web::Json(DataBody::new(ServerHealth {
        evolution_server_id: server.id,
        api_key_checked: key.is_some(),
        status,
        version: info.version,
        client_name: info.client_name,
        whatsapp_web_version: info.whatsapp_web_version,
        latency_ms: info.latency.as_millis().try_into().unwrap_or(u64::MAX),
    })))
}
