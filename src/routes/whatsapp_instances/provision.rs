//! Seed 004's idempotent provisioning, over HTTP: the work is the lifecycle service's
//! ([`crate::lifecycle::provision`]).

use actix_web::http::StatusCode;
use actix_web::{post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields;
use super::remote::{audit, EvolutionFailures, ProvisionedInstance, QrCodeView};
use super::{tenant_today, InstanceDetail, TenantPath};
use crate::auth::AuthUser;
use crate::db::instances::Instance;
use crate::db::tenants::Tenant;
use crate::domain::{ConnectionStatus, InstanceName, PhoneNumber};
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::input::{at_most, optional, Input, JsonObject};
use crate::lifecycle::provision::{self, ProvisionRequest, DEFAULT_DAILY_LIMIT};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::MessageDataBody;
use crate::state::AppState;

/// What to provision; every field may be left out or `null`. For an instance that exists
/// already only `phone_number` counts (it asks for a pairing code); change the others with
/// `PUT`. Text is trimmed, and an empty string counts as `null`.
#[derive(Deserialize, ToSchema, Default)]
pub struct ProvisionBody {
    /// Defaults to a generated `tenant-{tenant_id}-{random}`. The same name again is the
    /// same instance.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]{1,50}$", example = "principal_campana")]
    #[serde(default)]
    pub instance_name: Input,
    /// E.164, as on create. Also asks Evolution for a pairing code. Without
    /// `instance_name`, the tenant's instance with this number (on the same server) is the
    /// one meant.
    #[schema(value_type = crate::domain::OptionalPhoneNumber, inline)]
    #[serde(default)]
    pub phone_number: Input,
    /// `null` or left out means 1000.
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000, default = 1000)]
    #[serde(default)]
    pub daily_message_limit: Input,
    /// An active Evolution server with an API key (422 otherwise); `null` or left out
    /// means the default server.
    #[schema(value_type = Option<i64>, example = 1)]
    #[serde(default)]
    pub evolution_server_id: Input,
    #[schema(value_type = Option<String>, max_length = 1000)]
    #[serde(default)]
    pub notes: Input,
    /// Take over a name a deleted tenant left on Evolution, whose WhatsApp session may
    /// still be linked (otherwise a 409 `whatsapp.instance_name_retired`). Default `false`.
    #[schema(value_type = Option<bool>, default = false)]
    #[serde(default)]
    pub adopt: Input,
}

/// Why provisioning was refused with a 422: a validation failure (every rejected field,
/// as in `ValidationErrorBody`), or `whatsapp.max_instances_reached` (`ErrorBody`, with
/// `error_params.max`).
pub struct ProvisionRefused;

impl utoipa::PartialSchema for ProvisionRefused {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::AnyOfBuilder;
        use utoipa::openapi::Ref;
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("ValidationErrorBody"))
            .item(Ref::from_schema_name("ErrorBody"))
            .description(Some(
                "A validation failure (`validation.failed`, with `errors`) or \
                 `whatsapp.max_instances_reached` (with `error_params.max`).",
            ))
            .into()
    }
}

impl ToSchema for ProvisionRefused {}

/// Creates an instance on Evolution and answers its QR code.
///
/// Called again, finds the same instance and answers a fresh QR code (seed 004). 201 when
/// this call created the instance in Relevo or on Evolution, 200 when both had it. A
/// failure after the row was inserted leaves it in `error`; calling again repairs it.
///
/// 409: `whatsapp.instance_name_taken`: another tenant has this name on the server;
/// `whatsapp.instance_name_retired`: a deleted tenant left it on Evolution (send `adopt:
/// true` to take it over); `evolution.server_inactive`: an admin deactivated the
/// Evolution server (activate it first).
#[utoipa::path(
    tag = "whatsapp-instances",
    params(TenantPath),
    request_body = ProvisionBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created (in Relevo, on Evolution, or both)", body = MessageDataBody<ProvisionedInstance>),
        (status = 200, description = "It existed in both; a fresh QR code", body = MessageDataBody<ProvisionedInstance>),
        (status = 403, description = "Not a super admin, or `evolution.instance_creation_disabled`", body = ErrorBody),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 422, description = "Validation failed, or the tenant has as many instances as allowed", body = ProvisionRefused),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/provision")]
pub async fn provision_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<TenantPath>,
    body: JsonObject<ProvisionBody>,
) -> Result<(web::Json<MessageDataBody<ProvisionedInstance>>, StatusCode), ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner().tenant).await?;
    let mut errors = FieldErrors::default();
    let name = optional(
        &body.instance_name,
        "instance_name",
        &mut errors,
        InstanceName::parse,
    );
    let phone = optional(
        &body.phone_number,
        "phone_number",
        &mut errors,
        PhoneNumber::parse,
    );
    let daily_message_limit = fields::daily_message_limit(&body.daily_message_limit, &mut errors)
        .map_or(DEFAULT_DAILY_LIMIT, |limit| limit.get());
    let notes = at_most(&body.notes, "notes", fields::NOTES_MAX_CHARS, &mut errors)
        .then(|| optional(&body.notes, "notes", &mut errors, fields::notes))
        .flatten();
    let server_id = body
        .evolution_server_id
        .integer("evolution_server_id", &mut errors);
    let adopt = body.adopt.boolean("adopt", &mut errors).unwrap_or(false);
    let request = ProvisionRequest {
        name,
        phone,
        daily_message_limit,
        notes,
        server_id,
        adopt,
        errors,
        locale,
    };
    let audit = audit(&state, &user, request_id);
    let provisioned = provision::provision(&state, &tenant, request, audit).await?;
    let status = if provisioned.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    respond(&state, &tenant, provisioned.instance, status)
}

fn respond(
    state: &AppState,
    tenant: &Tenant,
    instance: Instance,
    status: StatusCode,
) -> Result<(web::Json<MessageDataBody<ProvisionedInstance>>, StatusCode), ApiError> {
    let today = tenant_today(state, tenant);
    let qr_code = QrCodeView::from(&instance);
    let connected = instance.connection_status == ConnectionStatus::Connected;
    let message = match (status == StatusCode::CREATED, connected, qr_code.is_present()) {
        (_, true, _) => "WhatsApp instance already existed and is connected: there is nothing to scan.",
        (true, false, true) => "WhatsApp instance provisioned. Scan the QR code with WhatsApp.",
        (false, false, true) => "WhatsApp instance already existed. Scan the new QR code.",
        (true, false, false) => "WhatsApp instance provisioned. Evolution has not produced a QR code yet: it arrives by webhook and shows on GET …/qr; if none comes, connect again.",
        (false, false, false) => "WhatsApp instance already existed. Evolution has not produced a new QR code yet: it arrives by webhook and shows on GET …/qr.",
    };
    let instance = InstanceDetail::build(instance, tenant, today, &state.cipher)?;
    let body = MessageDataBody::new(ProvisionedInstance { instance, qr_code }, message);
    Ok((web::Json(body), status))
}
