use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::remote::{
    audit, optional_json_object, reachable, respond, EvolutionFailures, InstanceWithQr,
};
use crate::auth::AuthUser;
use crate::domain::PhoneNumber;
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::input::{optional, Input};
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::DataBody;
use crate::state::AppState;

/// The body may be left out.
#[derive(Deserialize, ToSchema, Default)]
pub struct ConnectBody {
    /// Also ask for a pairing code for this number (E.164).
    #[schema(value_type = Option<String>, example = "+573001234567")]
    #[serde(default)]
    pub phone_number: Input,
}

/// Asks Evolution for a new QR code (`GET /instance/connect`), or a pairing code with
/// `phone_number`. A connected instance gets no QR code and shows `connected`.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = i64, Path)),
    request_body(content = Option<ConnectBody>, description = "Optional"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = inline(DataBody<InstanceWithQr>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`evolution.instance_missing`: Evolution no longer has the instance (now `error`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/connect")]
pub async fn connect_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (tenant_key, id) = path.into_inner();
    let body: ConnectBody = optional_json_object(&body, locale)?;
    let target = reachable(&state, &user, tenant_key, id).await?;
    let mut errors = FieldErrors::default();
    let phone = optional(
        &body.phone_number,
        "phone_number",
        &mut errors,
        PhoneNumber::parse,
    );
    errors.into_result(locale)?;

    let number = phone.as_ref().map(PhoneNumber::digits);
    let audit = audit(&state, &user, request_id);
    let updated = instance::connect(&state, &target, number, audit).await?;
    respond(
        &state,
        &target.tenant,
        updated,
        true,
        "Scan the QR code with WhatsApp",
    )
}
