use actix_web::{post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::remote::{
    audit, optional_json_object, qr_message, reachable, respond_with_qr, EvolutionFailures,
    InstanceWithQr, QrCodeView,
};
use super::InstancePath;
use crate::auth::AuthUser;
use crate::domain::PhoneNumber;
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Locale;
use crate::input::{optional, Input};
use crate::lifecycle::instance;
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// What connecting may ask for. The whole body may be left out (any `Content-Type`); when
/// sent it must be a JSON object.
#[derive(Deserialize, ToSchema, Default)]
pub struct ConnectBody {
    /// Also ask for a pairing code for this number (E.164, as on create); `null` or left
    /// out asks for a QR code only.
    #[schema(value_type = crate::domain::OptionalPhoneNumber, inline)]
    #[serde(default)]
    pub phone_number: Input,
}

/// Asks Evolution for a new QR code.
///
/// Calls `GET /instance/connect`, asking for a pairing code too with `phone_number`.
/// A connected instance gets no QR code and shows `connected`.
///
/// 409: `evolution.instance_missing`: Evolution no longer has the instance (now `error`);
/// `evolution.server_inactive`: an admin deactivated the instance's Evolution server
/// (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    request_body(content = Option<ConnectBody>, description = "May be left out"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "\"Scan the QR code with WhatsApp\"; when Evolution gave no QR code yet, a message that says it comes later (by webhook, on GET …/qr); when connected, that there is nothing to scan", body = MessageDataBody<InstanceWithQr>),
        (status = 409, response = crate::openapi::responses::Conflict),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/{id}/connect")]
pub async fn connect_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<InstancePath>,
    body: web::Bytes,
) -> Result<web::Json<MessageDataBody<InstanceWithQr>>, ApiError> {
    let body: ConnectBody = optional_json_object(&body, locale)?;
    let target = reachable(&state, &user, path.into_inner()).await?;
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
    let message = qr_message(
        &updated,
        &QrCodeView::from(&updated),
        "Scan the QR code with WhatsApp",
    );
    Ok(respond_with_qr(&state, &target.tenant, updated, message))
}
