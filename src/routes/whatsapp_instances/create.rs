use actix_web::http::StatusCode;
use actix_web::{post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields;
use super::{audit_snapshot, tenant_today, InstanceDetail, TenantPath};
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::domain::{InstanceName, PhoneNumber};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{at_most, optional, required, Input, JsonObject};
use crate::registry::instances::{self, CreateOutcome, RefusedInstance, ValidNewInstance};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::MessageDataBody;
use crate::secrets::Cipher;
use crate::state::AppState;
use crate::targets::TargetPolicy;

/// An instance that already exists on an Evolution API server, to register. Unknown
/// fields are ignored; every problem is reported at once. Text is trimmed, and an empty
/// string counts as `null`.
#[derive(Deserialize, ToSchema, Default)]
pub struct CreateInstanceBody {
    /// `+`, country code and number, stored in E.164; spaces, `-`, `.`, `(` and `)` are
    /// dropped. The country code must be one libphonenumber's metadata knows and the number
    /// one of the lengths it knows for that code (7 to 15 digits in all): the pattern says
    /// exactly which.
    #[schema(value_type = crate::domain::PhoneNumber, inline, required = true)]
    #[serde(default)]
    pub phone_number: Input,
    /// The name Evolution knows the instance by; unique per Evolution server.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9_-]{1,50}$", example = "principal_campana")]
    #[serde(default)]
    pub instance_name: Input,
    /// The instance's key on its Evolution server; stored encrypted.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 255, example = "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A")]
    #[serde(default)]
    pub evolution_api_key: Input,
    /// An http(s) URL without user name or password, on a public address as a server's
    /// `base_url` is. `null` or left out means the default Evolution server; a URL Relevo
    /// does not know yet becomes an Evolution server without a key (calls to it use this
    /// instance's key).
    #[schema(value_type = crate::domain::OptionalHttpUrl, inline, example = "https://evolution.midominio.com")]
    #[serde(default)]
    pub evolution_api_url: Input,
    #[schema(value_type = i32, required = true, minimum = 1, maximum = 100000, example = 1000)]
    #[serde(default)]
    pub daily_message_limit: Input,
    /// `null` or left out means `true`.
    #[schema(value_type = Option<bool>, default = true)]
    #[serde(default)]
    pub is_active: Input,
    /// `null` or left out means none.
    #[schema(value_type = Option<String>, max_length = 1000, example = "Instancia principal para campaña electoral")]
    #[serde(default)]
    pub notes: Input,
    /// For the `priority` rotation strategy: lower first. `null` or left out means 0.
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000, default = 0)]
    #[serde(default)]
    pub priority: Input,
}

/// Registers an instance that already exists on an Evolution API server.
///
/// Answers it with its key and tenant.
///
/// 409: `whatsapp.instance_name_taken`: another tenant has this instance name on this
/// server.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(TenantPath),
    request_body = CreateInstanceBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = MessageDataBody<InstanceDetail>),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[post("/tenants/{tenant}/whatsapp-instances")]
pub async fn create_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<TenantPath>,
    body: JsonObject<CreateInstanceBody>,
) -> Result<(web::Json<MessageDataBody<InstanceDetail>>, StatusCode), ApiError> {
    let tenant = managed_tenant(&state, &user, path.into_inner().tenant).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let new = match ValidNewInstance::parse(&body, &state.targets, &state.cipher) {
        Ok(new) => new,
        Err(refused) => {
            let refusal = instances::refusal_of_new(&state, tenant.id, refused).await?;
            return Err(fields::refused(refusal, locale));
        }
    };
    let today = tenant_today(&state, &tenant);
    let created = instances::create(&state, auditor, tenant.clone(), today, new, audit_snapshot);
    match created.await? {
        CreateOutcome::Created(created) => {
            let detail = InstanceDetail::build(*created, &tenant, today, &state.cipher)?;
            let body = MessageDataBody::new(detail, "WhatsApp instance created successfully");
            Ok((web::Json(body), StatusCode::CREATED))
        }
        CreateOutcome::Refused(refusal) => Err(fields::refused(refusal, locale)),
    }
}

// Defined with the other registry types; parsed here, where the body is.
impl ValidNewInstance {
    /// A registration body, every field parsed, or every problem found in it (in the
    /// order of the fields) with what did parse.
    pub fn parse(
        body: &CreateInstanceBody,
        targets: &TargetPolicy,
        cipher: &Cipher,
    ) -> Result<Self, RefusedInstance> {
        let mut errors = FieldErrors::default();
        let phone = required(
            &body.phone_number,
            "phone_number",
            &mut errors,
            PhoneNumber::parse,
        );
        let name = required(
            &body.instance_name,
            "instance_name",
            &mut errors,
            InstanceName::parse,
        );
        let api_key = fields::evolution_api_key_field(&body.evolution_api_key, true, &mut errors);
        let api_url = optional(
            &body.evolution_api_url,
            "evolution_api_url",
            &mut errors,
            |raw| fields::evolution_api_url(targets, raw),
        );
        let limit = match &body.daily_message_limit {
            Input::Value(_) => fields::daily_message_limit(&body.daily_message_limit, &mut errors),
            _ => {
                errors.add("daily_message_limit", Msg::Required);
                None
            }
        };
        let is_active = body.is_active.boolean("is_active", &mut errors);
        let notes = at_most(&body.notes, "notes", fields::NOTES_MAX_CHARS, &mut errors)
            .then(|| optional(&body.notes, "notes", &mut errors, fields::notes))
            .flatten();
        let priority = fields::priority(&body.priority, &mut errors);
        match (phone, name, api_key, limit) {
            (Some(phone), Some(name), Some(api_key), Some(limit)) if errors.is_empty() => {
                Ok(Self {
                    phone,
                    name,
                    api_key_encrypted: cipher.encrypt(&api_key),
                    api_url,
                    limit,
                    is_active,
                    notes,
                    priority,
                })
            }
            (phone, name, _, _) => Err(RefusedInstance {
                errors,
                phone,
                name,
                api_url,
            }),
        }
    }
}
