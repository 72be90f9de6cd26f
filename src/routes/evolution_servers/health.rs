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
    /// What the server says of itself; `null` when it does not say.
    #[schema(required = true, example = "2.3.6")]
    pub version: Option<String>,
    #[schema(required = true, example = "evolution")]
    pub client_name: Option<String>,
    #[schema(required = true, example = "2.3000.1028437292")]
    pub whatsapp_web_version: Option<String>,
    /// How long `GET /` took, in milliseconds.
    #[schema(example = 42)]
    pub latency_ms: u64,
}

/// The answer of a server that answered.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = EvolutionServerStatus)]
pub enum ServerStatus {
    Ok,
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
    // `GET /` needs no key.
    let info = state
        .evolution
        .server(Some(server.id), &server.base_url, "")
        .info()
        .await
        .map_err(|error| ApiError::evolution(&upstream(&server), &error))?;
    Ok(web::Json(DataBody::new(ServerHealth {
        evolution_server_id: server.id,
        status: ServerStatus::Ok,
        version: info.version,
        client_name: info.client_name,
        whatsapp_web_version: info.whatsapp_web_version,
        latency_ms: info.latency.as_millis().try_into().unwrap_or(u64::MAX),
    })))
}
