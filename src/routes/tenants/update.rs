use actix_web::{put, web, HttpResponse};

use super::create::slug_race;
use super::fields::TenantBody;
use super::TenantResource;
use crate::auth::SuperAdmin;
use crate::db::tenants;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::JsonObject;
use crate::routes::visible_tenant;
use crate::routes::wire::DataBody;
use crate::startup::AppState;

/// Changes only the fields sent.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = TenantBody,
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<TenantResource>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
#[put("/tenants/{tenant}")]
pub async fn update_tenant(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<TenantBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = visible_tenant(&state, &admin.0, path.into_inner()).await?;
    let mut errors = FieldErrors::default();
    let mut changes = body.parse(&state.cipher, &mut errors);
    changes.updated_at = Some(state.clock.now().naive_utc());
    let tenant_id = tenant.id;
    let updated = state
        .transaction(move |conn| {
            if let Some(slug) = &changes.slug {
                if tenants::slug_exists(conn, slug, Some(tenant_id))? {
                    errors.add("slug", Msg::SlugTaken);
                }
            }
            errors.into_result(locale)?;
            tenants::update(conn, tenant_id, &changes).map_err(|e| slug_race(e, locale))
        })
        .await?;
    Ok(HttpResponse::Ok().json(DataBody::with_message(
        TenantResource::from(&updated),
        "Tenant updated successfully",
    )))
}
