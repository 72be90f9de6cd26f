use actix_web::http::StatusCode;
use actix_web::{post, web};

use super::fields::TenantBody;
use super::{audit_snapshot, TenantWithCallbackSecret};
use crate::audit::Auditor;
use crate::auth::SuperAdmin;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::JsonObject;
use crate::registry::tenants::{self, CreateOutcome, GeneratedSecret};
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// Creates a tenant.
///
/// A slug already taken is a 422 on `slug`.
#[utoipa::path(
    tag = "tenants",
    request_body = TenantBody,
    security(("bearer" = [])),
    responses((status = 201, body = MessageDataBody<TenantWithCallbackSecret>))
)]
#[post("/tenants")]
pub async fn create_tenant(
    state: web::Data<AppState>,
    admin: SuperAdmin,
    request_id: RequestId,
    locale: Locale,
    body: JsonObject<TenantBody>,
) -> Result<
    (
        web::Json<MessageDataBody<TenantWithCallbackSecret>>,
        StatusCode,
    ),
    ApiError,
> {
    let auditor = Auditor::new(&admin.0, request_id, &state.clock);
    let new = match body.parse_new(&state.cipher, &state.targets) {
        Ok(new) => new,
        Err(refused) => {
            return Err(tenants::refusal(&state, refused, None)
                .await?
                .into_error(locale))
        }
    };
    let generated = GeneratedSecret::new(&state.cipher);
    match tenants::create(&state, auditor, new, generated, audit_snapshot).await? {
        CreateOutcome::Created(written) => Ok((
            web::Json(MessageDataBody::new(
                TenantWithCallbackSecret::from(*written),
                "Tenant created successfully",
            )),
            StatusCode::CREATED,
        )),
        CreateOutcome::SlugTaken => Err(slug_taken(locale)),
    }
}

/// A slug another tenant has is a 422 on `slug`.
pub fn slug_taken(locale: Locale) -> ApiError {
    FieldErrors::one("slug", Msg::SlugTaken, locale)
}
