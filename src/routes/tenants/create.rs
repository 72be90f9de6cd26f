use actix_web::http::StatusCode;
use actix_web::{post, web};

use super::fields::{CreateTenantBody, TenantBody};
use super::{audit_snapshot, GeneratedSecret, TenantResource, TenantWithCallbackSecret};
use crate::audit::{Action, Auditor};
use crate::auth::SuperAdmin;
use crate::db::{
    is_unique_violation,
    tenants::{self, NewTenant},
    write_transaction,
};
use crate::domain::{RotationStrategy, TenantSlug};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::JsonObject;
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Creates a tenant.
///
/// A slug already taken is a 422 on `slug`.
#[utoipa::path(
    tag = "tenants",
    request_body = CreateTenantBody,
    security(("bearer" = [])),
    responses((status = 201, body = MessageDataBody<TenantWithCallbackSecret>))
)]
#[post("/tenants")]
pub async fn create_tenant(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    body: JsonObject<CreateTenantBody>,
) -> Result<
    (
        web::Json<MessageDataBody<TenantWithCallbackSecret>>,
        StatusCode,
    ),
    ApiError,
> {
    let body = TenantBody::from(body.0);
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let mut errors = FieldErrors::default();
    if body.nombre.is_absent() {
        errors.add("nombre", Msg::Required);
    }
    let fields = body.parse(&state.cipher, &state.targets, &mut errors);
    let slug = match (&fields.slug, &fields.nombre) {
        (Some(slug), _) => Some(slug.clone()),
        (None, Some(nombre)) if body.slug.is_absent() => {
            let generated = TenantSlug::from_name(nombre).map(TenantSlug::into_inner);
            if generated.is_none() {
                errors.add("slug", Msg::Required);
            }
            generated
        }
        _ => None,
    };
    let now = state.clock.now().naive_utc();
    let default_timezone = state.settings.default_timezone.name().to_string();
    let generated = GeneratedSecret::new(&state.cipher);
    let (created, shown_secret) = state
        .transaction(move |conn| {
            if let Some(slug) = &slug {
                if tenants::slug_exists(conn, slug, None)? {
                    errors.add("slug", Msg::SlugTaken);
                }
            }
            errors.into_result(locale)?;
            let new = NewTenant {
                slug: slug.expect("a slug was given or generated"),
                nombre: fields.nombre.expect("nombre was required"),
                tipo_cargo: fields.tipo_cargo.flatten(),
                identificacion: fields.identificacion.flatten(),
                timezone: fields.timezone.unwrap_or(default_timezone),
                rotation_strategy: fields
                    .rotation_strategy
                    .unwrap_or_else(|| RotationStrategy::RoundRobin.as_str().to_string()),
                callback_url: fields.callback_url.clone().flatten(),
                callback_secret_encrypted: fields.callback_secret_encrypted.clone().flatten(),
                currency: fields.currency.unwrap_or_else(|| "COP".to_string()),
                whatsapp_credits: fields.whatsapp_credits.unwrap_or(0),
                whatsapp_unit_price_micros: fields.whatsapp_unit_price_micros.unwrap_or(0),
                created_at: now,
                updated_at: now,
            };
            // A callback URL without a secret gets one, shown once in this answer.
            let mut new = new;
            let shown_secret = (new.callback_url.is_some()
                && new.callback_secret_encrypted.is_none())
            .then(|| {
                new.callback_secret_encrypted = Some(generated.sealed.clone());
                generated.plain.clone()
            });
            write_transaction(conn, |conn| {
                let tenant = tenants::insert(conn, &new)?;
                let after = audit_snapshot(&tenant)?;
                auditor.record(
                    conn,
                    Action::TenantCreated,
                    tenant.id,
                    Some(tenant.id),
                    None,
                    Some(after),
                )?;
                Ok((tenant, shown_secret.clone()))
            })
            .map_err(|e| slug_race(e, locale))
        })
        .await?;
    Ok((
        web::Json(MessageDataBody::new(
            TenantWithCallbackSecret {
                tenant: TenantResource::from(&created),
                callback_secret: shown_secret,
            },
            "Tenant created successfully",
        )),
        StatusCode::CREATED,
    ))
}

/// The only unique column of a tenant is its slug: losing a race for it is a 422.
pub fn slug_race(error: diesel::result::Error, locale: Locale) -> ApiError {
    if !is_unique_violation(&error) {
        return error.into();
    }
    FieldErrors::one("slug", Msg::SlugTaken, locale)
}
