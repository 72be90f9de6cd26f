use actix_web::{get, web, HttpResponse};

use super::{find_server, ServerResource};
use crate::auth::SuperAdmin;
use crate::error::{ApiError, ErrorBody};
use crate::routes::wire::DataBody;
use crate::state::AppState;

#[utoipa::path(
    tag = "evolution-servers",
    params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<ServerResource>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/evolution-servers/{id}")]
pub async fn show_server(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let server = find_server(&state, path.into_inner()).await?;
    let resource = state
        .db(move |conn| ServerResource::load(conn, &server))
        .await?;
    Ok(HttpResponse::Ok().json(DataBody::new(resource)))
}
