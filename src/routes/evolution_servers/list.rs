use actix_web::{get, web};

use super::ServerResource;
use crate::auth::SuperAdmin;
use crate::db::evolution_servers;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::routes::wire::{PageQuery, Paginated};
use crate::state::AppState;

/// The Evolution API servers, oldest first.
#[utoipa::path(
    tag = "evolution-servers",
    params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Paginated<ServerResource>))
)]
#[get("/evolution-servers")]
pub async fn list_servers(
    state: web::Data<AppState>,
    _admin: SuperAdmin,
    locale: Locale,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<ServerResource>>, ApiError> {
    let mut errors = FieldErrors::default();
    let page = query.parse(&mut errors);
    errors.into_result(locale)?;
    let (servers, counts, total) = state
        .db(move |conn| {
            let (servers, total) = evolution_servers::list(conn, page)?;
            let ids: Vec<i64> = servers.iter().map(|server| server.id).collect();
            let counts = evolution_servers::instance_counts(conn, &ids)?;
            Ok((servers, counts, total))
        })
        .await?;
    let data = servers
        .iter()
        .map(|server| {
            let count = counts
                .iter()
                .find(|(id, _)| *id == server.id)
                .map_or(0, |(_, count)| *count);
            ServerResource::new(server, count)
        })
        .collect();
    Ok(web::Json(Paginated::new(data, total, page)))
}
