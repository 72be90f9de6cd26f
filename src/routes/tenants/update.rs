use actix_web::{put, web};

use super::create::slug_race;
use super::fields::{TenantBody, UpdateTenantBody};
use super::{audit_snapshot, GeneratedSecret, TenantResource, TenantWithCallbackSecret};
use crate::audit::{Action, Auditor};
use crate::auth::SuperAdmin;
use crate::db::{tenants, write_transaction};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::JsonObject;
use crate::request_id::RequestId;
use crate::routes::visible_tenant;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Changes a tenant: only the fields sent.
#[utoipa::path(
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = UpdateTenantBody,
    security(("bearer" = [])),
    responses((status = 200, body = MessageDataBody<TenantWithCallbackSecret>))
)]
#[put("/tenants/{tenant}")]
pub async fn update_tenant(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<UpdateTenantBody>,
) -> Result<web::Json<MessageDataBody<TenantWithCallbackSecret>>, ApiError> {
    let body = TenantBody::from(body.0);
    let tenant = visible_tenant(&state, &admin.0, path.into_inner()).await?;
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let mut errors = FieldErrors::default();
    let mut changes = body.parse(&state.cipher, &state.targets, &mut errors);
    changes.updated_at = Some(state.clock.now().naive_utc());
    let tenant_id = tenant.id;
    let generated = GeneratedSecret::new(&state.cipher);
    let (updated, shown_secret) = state
        .transaction(move |conn| {
            if let Some(slug) = &changes.slug {
                if tenants::slug_exists(conn, slug, Some(tenant_id))? {
                    errors.add("slug", Msg::SlugTaken);
                }
            }
            errors.into_result(locale)?;
            write_transaction(conn, |conn| {
                let before = tenants::find_for_update(conn, tenant_id)?
                    .ok_or(diesel::result::Error::NotFound)?;
                let mut updated = tenants::update(conn, tenant_id, &changes)?;
                // A callback URL left without a secret gets one, shown once in this answer.
                let mut shown_secret = None;
                if updated.callback_url.is_some() && updated.callback_secret_encrypted.is_none() {
                    let secret = tenants::TenantChanges {
                        callback_secret_encrypted: Some(Some(generated.sealed.clone())),
                        ..Default::default()
                    };
                    updated = tenants::update(conn, tenant_id, &secret)?;
                    shown_secret = Some(generated.plain.clone());
                }
                auditor.record(
                    conn,
                    Action::TenantUpdated,
                    tenant_id,
                    Some(tenant_id),
                    Some(audit_snapshot(&before)?),
                    Some(audit_snapshot(&updated)?),
                )?;
                Ok((updated, shown_secret))
            })
            .map_err(|e| slug_race(e, locale))
        })
        .await?;
    Ok(web::Json(MessageDataBody::new(
        TenantWithCallbackSecret {
            tenant: TenantResource::from(&updated),
            callback_secret: shown_secret,
        },
        "Tenant updated successfully",
    )))
}
