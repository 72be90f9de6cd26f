use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{find_server, upstream};
use crate::auth::SuperAdmin;
use crate::error::{ApiError, ErrorBody};
use crate::routes::wire::DataBody;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ServerHealth {
    #[schema(example = 1)]
    pub evolution_server_id: i64,
    /// `ok` when the server answered.
    #[schema(example = "ok")]
    pub status: String,
    #[schema(example = "2.3.6")]
    pub version: Option<String>,
    #[schema(example = "evolution")]
    pub client_name: Option<String>,
    #[schema(example = "2.3000.1028437292")]
    pub whatsapp_web_version: Option<String>,
    /// How long `GET /` took, in milliseconds.
    #[schema(example = 42)]
    pub latency_ms: u64,
}

/// Calls the server's `GET /` and reports its version and the latency. An unreachable
/// or failing server is a 502, a slow one a 504.
#[utoipa::path(
    tag = "evolution-servers",
    params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<ServerHealth>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, description = "`evolution.unavailable`: unreachable or failing", body = ErrorBody),
        (status = 504, description = "`evolution.timeout`: no answer in time", body = ErrorBody),
    )
)]
#[get("/evolution-servers/{id}/health")]
pub async fn server_health(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let server = find_server(&state, path.into_inner()).await?;
    // `GET /` needs no key.
    let info = state
        .evolution
        .server(&server.base_url, "")
        .info()
        .await
        .map_err(|error| ApiError::evolution(&upstream(&server), &error))?;
    Ok(HttpResponse::Ok().json(DataBody::new(ServerHealth {
        evolution_server_id: server.id,
        status: "ok".into(),
        version: info.version,
        client_name: info.client_name,
        whatsapp_web_version: info.whatsapp_web_version,
        latency_ms: info.latency.as_millis().try_into().unwrap_or(u64::MAX),
    })))
}
