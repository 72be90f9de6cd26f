use actix_web::{put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields::{self, check_unique, from_write_error};
use super::{audit_snapshot, find_instance, tenant_today, InstanceDetail, InstancePath};
use crate::audit::{Action, Auditor};
use crate::auth::AuthUser;
use crate::db::evolution_servers;
use crate::db::instances::{self, InstanceChanges};
use crate::db::write_transaction_once;
use crate::domain::{InstanceName, PhoneNumber};
use crate::error::{ApiError, FieldErrors, Resource};
use crate::i18n::{Locale, Msg};
use crate::input::{at_most, nullable_patch, optional, Input, JsonObject};
use crate::request_id::RequestId;
use crate::routes::wire::MessageDataBody;
use crate::routes::{managed_tenant, require_key_on_new_origin};
use crate::state::AppState;

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

    let mut errors = FieldErrors::default();
    for (field, input) in [
        ("phone_number", &body.phone_number),
        ("instance_name", &body.instance_name),
        ("evolution_api_key", &body.evolution_api_key),
        ("daily_message_limit", &body.daily_message_limit),
        ("is_active", &body.is_active),
        ("priority", &body.priority),
    ] {
        if matches!(input, Input::Null) {
            errors.add(field, Msg::Required);
        }
    }
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
    let api_key = at_most(
        &body.evolution_api_key,
        "evolution_api_key",
        fields::API_KEY_MAX_CHARS,
        &mut errors,
    )
    .then(|| {
        optional(
            &body.evolution_api_key,
            "evolution_api_key",
            &mut errors,
            fields::evolution_api_key,
        )
    })
    .flatten();
    let api_url = nullable_patch(
        &body.evolution_api_url,
        "evolution_api_url",
        &mut errors,
        |raw| fields::evolution_api_url(&state.targets, raw),
    );
    let limit = fields::daily_message_limit(&body.daily_message_limit, &mut errors);
    let is_active = body.is_active.boolean("is_active", &mut errors);
    let notes = at_most(&body.notes, "notes", fields::NOTES_MAX_CHARS, &mut errors)
        .then(|| nullable_patch(&body.notes, "notes", &mut errors, fields::notes))
        .flatten();
    let priority = fields::priority(&body.priority, &mut errors);

    // Uniqueness is checked on the values the row will have after the update.
    let name_changes = name.is_some() || api_url.is_some();
    let final_name = name
        .as_ref()
        .map_or(current.instance_name.clone(), |n| n.as_str().to_string());
    let now = state.clock.now().naive_utc();
    let mut changes = InstanceChanges {
        phone_number: phone.as_ref().map(|p| p.as_str().to_string()),
        instance_name: name.map(|n| n.as_str().to_string()),
        evolution_api_key_encrypted: api_key.map(|key| state.cipher.encrypt(&key)),
        evolution_api_url: api_url,
        daily_message_limit: limit.map(|l| l.get()),
        is_active,
        notes,
        priority,
        updated_at: Some(now),
        ..InstanceChanges::default()
    };
    let key_sent = body.evolution_api_key.clone();
    let tenant_id = tenant.id;
    let audited_tenant = tenant.clone();
    let today = tenant_today(&state, &tenant);
    let updated = state
        .write(move |conn| {
            write_transaction_once(conn, |conn| {
                // A new URL moves the instance to the server at that URL; its key goes
                // along only within one origin.
                let final_server = match &changes.evolution_api_url {
                    Some(url) => {
                        let server = evolution_servers::server_for_url(conn, url.as_deref(), now)?;
                        changes.evolution_server_id = Some(server);
                        require_key_on_new_origin(
                            &mut errors,
                            (
                                "evolution_api_url",
                                evolution_servers::base_url_of(conn, current.evolution_server_id)?
                                    .as_deref(),
                                evolution_servers::base_url_of(conn, server)?.as_deref(),
                            ),
                            ("evolution_api_key", &key_sent),
                        );
                        server
                    }
                    None => current.evolution_server_id,
                };
                check_unique(
                    conn,
                    tenant_id,
                    phone.as_ref().map(|p| p.as_str()),
                    name_changes.then_some((final_name.as_str(), final_server)),
                    Some(id),
                    &mut errors,
                )?;
                errors.into_result(locale)?;
                let before = instances::find_for_update(conn, tenant_id, id)?
                    .ok_or_else(|| ApiError::not_found(Resource::WhatsappInstance))?;
                let updated = instances::update(conn, id, &changes)
                    .map_err(|e| from_write_error(e, locale))?;
                auditor.record(
                    conn,
                    Action::InstanceUpdated,
                    id,
                    Some(tenant_id),
                    Some(audit_snapshot(&before, &audited_tenant, today)?),
                    Some(audit_snapshot(&updated, &audited_tenant, today)?),
                )?;
                Ok(updated)
            })
        })
        .await?;

    let detail = InstanceDetail::build(updated, &tenant, today, &state.cipher)?;
    Ok(web::Json(MessageDataBody::new(
        detail,
        "WhatsApp instance updated successfully",
    )))
}
