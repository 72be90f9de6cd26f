use actix_web::{put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields;
use super::{audit_snapshot, find_instance, tenant_today, InstanceDetail, InstancePath};
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::domain::{InstanceName, PhoneNumber};
use crate::error::{ApiError, FieldErrors, Resource};
use crate::i18n::{Locale, Msg};
use crate::input::{at_most, nullable_patch, optional, Input, JsonObject};
use crate::registry::instances::{
    self, RefusedInstanceChanges, UpdateOutcome, ValidInstanceChanges,
};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::MessageDataBody;
use crate::secrets::Cipher;
use crate::state::AppState;
use crate::targets::TargetPolicy;

/// The changes to an instance: only the fields sent change, and `{}` changes nothing.
/// Only `notes` and `evolution_api_url` may be `null`; a `null` anywhere else is refused
/// (422, "required"). Text is trimmed, and an empty string counts as `null`.
#[derive(Deserialize, ToSchema, Default)]
pub struct UpdateInstanceBody {
    /// E.164, as on create.
    #[schema(value_type = crate::domain::PhoneNumber, inline)]
    #[serde(default)]
    pub phone_number: Input,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,50}$", example = "principal_actualizada")]
    #[serde(default)]
    pub instance_name: Input,
    /// A new key for the instance on its Evolution server; stored encrypted.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A")]
    #[serde(default)]
    pub evolution_api_key: Input,
    /// A new URL moves the instance to the Evolution server at that URL (one Relevo does
    /// not know yet is created without a key); `null` moves it back to the default server.
    /// On a public address, as on create. A move to another origin (scheme, host or port)
    /// needs `evolution_api_key` in the same request (422 on `evolution_api_key`): the
    /// stored key is never sent to a host it was not given for.
    #[schema(value_type = crate::domain::OptionalHttpUrl, inline, example = "https://evolution.midominio.com")]
    #[serde(default)]
    pub evolution_api_url: Input,
    #[schema(value_type = i32, minimum = 1, maximum = 100000, example = 1500)]
    #[serde(default)]
    pub daily_message_limit: Input,
    #[schema(value_type = bool)]
    #[serde(default)]
    pub is_active: Input,
    /// `null` clears them.
    #[schema(value_type = Option<String>, max_length = 1000, example = "Límite aumentado por campaña intensiva")]
    #[serde(default)]
    pub notes: Input,
    /// For the `priority` rotation strategy: lower first.
    #[schema(value_type = i32, minimum = 0, maximum = 1000000)]
    #[serde(default)]
    pub priority: Input,
}

/// Updates an instance.
///
/// Answers it with its key and tenant.
///
/// 409: `whatsapp.instance_name_taken`: another tenant has this instance name on the
/// target server.
#[utoipa::path(
    tag = "whatsapp-instances",
    params(InstancePath),
    request_body = UpdateInstanceBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = MessageDataBody<InstanceDetail>),
        (status = 409, response = crate::openapi::responses::Conflict),
    )
)]
#[put("/tenants/{tenant}/whatsapp-instances/{id}")]
pub async fn update_instance(
    state: web::Data<AppState>,
    user: AuthUser,
    request_id: RequestId,
    locale: Locale,
    path: web::Path<InstancePath>,
    body: JsonObject<UpdateInstanceBody>,
) -> Result<web::Json<MessageDataBody<InstanceDetail>>, ApiError> {
    let InstancePath { tenant, id } = path.into_inner();
    let tenant = managed_tenant(&state, &user, tenant).await?;
    let current = find_instance(&state, tenant.id, id).await?;
    let auditor = Auditor::new(&user, request_id, &state.clock);
    let changes = match ValidInstanceChanges::parse(&body, &state.targets, &state.cipher) {
        Ok(changes) => changes,
        Err(refused) => {
            let refusal = instances::refusal_of_changes(&state, tenant.id, current, refused);
            return Err(fields::refused(refusal.await?, locale));
        }
    };
    let today = tenant_today(&state, &tenant);
    let updated = instances::update(
        &state,
        auditor,
        tenant.clone(),
        current,
        today,
        changes,
        audit_snapshot,
    );
    match updated.await? {
        UpdateOutcome::Updated(updated) => {
            let detail = InstanceDetail::build(*updated, &tenant, today, &state.cipher)?;
            let body = MessageDataBody::new(detail, "WhatsApp instance updated successfully");
            Ok(web::Json(body))
        }
        UpdateOutcome::Refused(refusal) => Err(fields::refused(refusal, locale)),
        UpdateOutcome::NotFound => Err(ApiError::not_found(Resource::WhatsappInstance)),
    }
}

// Defined with the other registry types; parsed here, where the body is.
impl ValidInstanceChanges {
    /// An update body, every field sent parsed, or every problem found in it (in the
    /// order of the fields) with what did parse.
    pub fn parse(
        body: &UpdateInstanceBody,
        targets: &TargetPolicy,
        cipher: &Cipher,
    ) -> Result<Self, RefusedInstanceChanges> {
        let mut errors = body.nulls_refused();
        let phone = optional(
            &body.phone_number,
            "phone_number",
            &mut errors,
            PhoneNumber::parse,
        );
        let name = optional(
            &body.instance_name,
            "instance_name",
            &mut errors,
            InstanceName::parse,
        );
        let api_key = fields::evolution_api_key_field(&body.evolution_api_key, false, &mut errors);
        let api_url = nullable_patch(
            &body.evolution_api_url,
            "evolution_api_url",
            &mut errors,
            |raw| fields::evolution_api_url(targets, raw),
        );
        let limit = fields::daily_message_limit(&body.daily_message_limit, &mut errors);
        let is_active = body.is_active.boolean("is_active", &mut errors);
        let notes = at_most(&body.notes, "notes", fields::NOTES_MAX_CHARS, &mut errors)
            .then(|| nullable_patch(&body.notes, "notes", &mut errors, fields::notes))
            .flatten();
        let priority = fields::priority(&body.priority, &mut errors);
        if !errors.is_empty() {
            return Err(RefusedInstanceChanges {
                errors,
                phone,
                name,
                api_url,
                key_sent: !body.evolution_api_key.is_absent(),
            });
        }
        Ok(Self {
            phone,
            name,
            api_key_encrypted: api_key.map(|key| cipher.encrypt(&key)),
            api_url,
            limit,
            is_active,
            notes,
            priority,
        })
    }
}

impl UpdateInstanceBody {
    /// "Required" for each field sent as `null` that cannot be cleared.
    fn nulls_refused(&self) -> FieldErrors {
        let mut errors = FieldErrors::default();
        for (field, input) in [
            ("phone_number", &self.phone_number),
            ("instance_name", &self.instance_name),
            ("evolution_api_key", &self.evolution_api_key),
            ("daily_message_limit", &self.daily_message_limit),
            ("is_active", &self.is_active),
            ("priority", &self.priority),
        ] {
            if matches!(input, Input::Null) {
                errors.add(field, Msg::Required);
            }
        }
        errors
    }
}
