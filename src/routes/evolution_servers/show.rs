use actix_web::{get, web};

use super::{find_server, ServerResource};
use crate::auth::SuperAdmin;
use crate::error::ApiError;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// One Evolution API server, with how many instances live on it.
#[utoipa::path(
    tag = "evolution-servers",
    params(("id" = i64, Path, description = "Evolution server id")),
    security(("bearer" = [])),
    responses((status = 200, body = DataBody<ServerResource>))
)]
#[get("/evolution-servers/{id}")]
pub async fn show_server(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    path: web::Path<i64>,
) -> Result<web::Json<DataBody<ServerResource>>, ApiError> {
    let server = find_server(&state, path.into_inner()).await?;
    let resource = state
        .db(move |conn| ServerResource::load(conn, server))
        .await?;
    Ok(web::Json(DataBody::new(resource)))
}
