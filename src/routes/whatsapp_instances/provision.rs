//! Seed 004's idempotent provisioning, over HTTP: the work is the lifecycle service's
//! ([`crate::lifecycle::provision`]).

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields;
use super::remote::{audit, EvolutionFailures, InstanceWithQr, QrCodeBody};
use super::{tenant_today, Detail, InstanceResource};
use crate::auth::AuthUser;
use crate::db::instances::Instance;
use crate::db::tenants::Tenant;
use crate::domain::{InstanceName, PhoneNumber};
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::i18n::Locale;
use crate::input::{optional, Input, JsonObject};
use crate::lifecycle::provision::{self, ProvisionRequest, DEFAULT_DAILY_LIMIT};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::{DataBody, MessageDataBody};
use crate::state::AppState;

/// Every field is optional. For an instance that exists already only `phone_number`
/// counts (it asks for a pairing code); change the others with `PUT`.
#[derive(Deserialize, ToSchema, Default)]
pub struct ProvisionBody {
    /// Defaults to a generated `tenant-{tenant_id}-{random}`. The same name again is the
    /// same instance.
    #[schema(value_type = Option<String>, example = "principal_campana", pattern = "^[A-Za-z0-9_-]{1,50}$")]
    #[serde(default)]
    pub instance_name: Input,
    /// E.164. Also asks Evolution for a pairing code. Without `instance_name`, the
    /// tenant's instance with this number (on the same server) is the one meant.
    #[schema(value_type = Option<String>, example = "+573001234567")]
    #[serde(default)]
    pub phone_number: Input,
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000, default = 1000)]
    #[serde(default)]
    pub daily_message_limit: Input,
    /// Defaults to the default server.
    #[schema(value_type = Option<i64>)]
    #[serde(default)]
    pub evolution_server_id: Input,
    #[schema(value_type = Option<String>, max_length = 1000)]
    #[serde(default)]
    pub notes: Input,
}

/// Creates an instance on Evolution and answers its QR code; called again, finds the
/// same instance and answers a fresh QR code (seed 004). 201 when this call created the
/// instance in Relevo or on Evolution, 200 when both had it. A failure after the row was
/// inserted leaves it in `error`; calling again repairs it.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = ProvisionBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created (in Relevo, on Evolution, or both)", body = inline(DataBody<InstanceWithQr>)),
        (status = 200, description = "It existed in both; a fresh QR code", body = inline(DataBody<InstanceWithQr>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a super admin, or `evolution.instance_creation_disabled`", body = ErrorBody),
        (status = 404, description = "Tenant not found", body = ErrorBody),
        (status = 409, description = "`whatsapp.instance_name_taken`: another tenant has this name on the server", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "Validation failed, or `whatsapp.max_instances_reached`", body = ErrorBody),
        EvolutionFailures,
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances/provision")]
pub async fn provision_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<String>,
    body: JsonObject<ProvisionBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner()).await?;
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
    let notes = optional(&body.notes, "notes", &mut errors, fields::notes);
    let server_id = body
        .evolution_server_id
        .integer("evolution_server_id", &mut errors);
    let request = ProvisionRequest {
        name,
        phone,
        daily_message_limit,
        notes,
        server_id,
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
) -> Result<HttpResponse, ApiError> {
    let today = tenant_today(state, tenant);
    let qr_code = QrCodeBody::from(&instance);
    let detail = Detail::Full {
        cipher: &state.cipher,
        tenant,
    };
    let instance = InstanceResource::build(instance, tenant, today, detail)?;
    let message = if status == StatusCode::CREATED {
        "WhatsApp instance provisioned. Scan the QR code with WhatsApp."
    } else {
        "WhatsApp instance already existed. Scan the new QR code."
    };
    Ok(HttpResponse::build(status).json(MessageDataBody::new(
        InstanceWithQr { instance, qr_code },
        message,
    )))
}
