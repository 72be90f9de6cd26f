//! Seed 004's idempotent provisioning: the instance is found or inserted in the database,
//! found or created on Evolution, and asked for a fresh QR code, every call.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use rand::distributions::{Alphanumeric, DistString};
use serde::Deserialize;
use utoipa::ToSchema;

use super::fields::{self, name_owned_elsewhere};
use super::remote::{EvolutionFailures, InstanceWithQr, QrCodeBody};
use super::{audit_snapshot, tenant_today, Detail, InstanceResource};
use crate::audit::{Action, Auditor};
use crate::auth::AuthUser;
use crate::db::evolution_servers::{self, EvolutionServer};
use crate::db::instances::{self, Instance, NewInstance};
use crate::db::remote_instances::{self, ProvisionTarget, RemoteChanges};
use crate::db::tenants::Tenant;
use crate::domain::{InstanceName, PhoneNumber};
use crate::error::{ApiError, ErrorBody, FieldErrors};
use crate::evolution::{
    ConnectAnswer, EvolutionClient, EvolutionError, NewRemoteInstance, RemoteInstance,
    WebhookConfig,
};
use crate::i18n::{Locale, Msg};
use crate::input::{optional, Input, JsonObject};
use crate::lifecycle::status::connect_changes;
use crate::request_id::RequestId;
use crate::routes::evolution_servers::upstream;
use crate::routes::managed_tenant;
use crate::routes::wire::DataBody;
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

pub const DEFAULT_DAILY_LIMIT: i32 = 1000;

/// The events Relevo's inbound webhook handles (SPEC section 8).
const INBOUND_EVENTS: &[&str] = &[
    "QRCODE_UPDATED",
    "CONNECTION_UPDATE",
    "MESSAGES_UPSERT",
    "LOGOUT_INSTANCE",
    "REMOVE_INSTANCE",
];

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
    let auditor = Auditor::new(&user, request_id, &state.clock);
    if !state.settings.evolution.enable_instance_creation {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "evolution.instance_creation_disabled",
            "Provisioning is disabled on this Relevo (EVOLUTION_API_ENABLE_INSTANCE_CREATION=false); register existing instances instead.",
        ));
    }

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
    let limit = fields::daily_message_limit(&body.daily_message_limit, &mut errors)
        .map_or(DEFAULT_DAILY_LIMIT, |limit| limit.get());
    let notes = optional(&body.notes, "notes", &mut errors, fields::notes);
    let server_id = body
        .evolution_server_id
        .integer("evolution_server_id", &mut errors);
    let server = state
        .db(move |conn| {
            let server = choose_server(conn, server_id, &mut errors)?;
            errors.into_result(locale)?;
            Ok(server.expect("a server or a field error"))
        })
        .await?;

    let now = state.clock.now().naive_utc();
    let new_token = uuid::Uuid::new_v4().to_string().to_uppercase();
    let name_given = name.is_some();
    let new = NewInstance {
        tenant_id: tenant.id,
        phone_number: phone
            .as_ref()
            .map_or_else(String::new, |p| p.as_str().to_string()),
        instance_name: name.map_or_else(|| generated_name(tenant.id), |n| n.as_str().to_string()),
        evolution_api_key_encrypted: state.cipher.encrypt(&new_token),
        evolution_api_url: Some(server.base_url.clone()),
        daily_message_limit: limit,
        messages_sent_today: 0,
        last_reset_date: tenant_today(&state, &tenant),
        is_active: true,
        notes,
        priority: 0,
        created_at: now,
        updated_at: now,
        evolution_server_id: Some(server.id),
        provisioned: true,
        connection_status: "connecting".into(),
    };
    let max = i64::from(state.settings.evolution.max_instances_per_tenant);
    let instance_name = new.instance_name.clone();
    let claim = state
        .write(move |conn| {
            Ok(remote_instances::claim_for_provisioning(
                conn,
                &new,
                !name_given,
                max,
            )?)
        })
        .await?;
    let (instance, inserted) = match claim {
        ProvisionTarget::Inserted(instance) => (instance, true),
        ProvisionTarget::Existing(instance) => (instance, false),
        ProvisionTarget::OwnedByAnotherTenant => return Err(name_owned_elsewhere(&instance_name)),
        ProvisionTarget::MaxReached => return Err(max_instances_reached(max)),
        ProvisionTarget::PhoneTaken => {
            let mut errors = FieldErrors::default();
            errors.add("phone_number", Msg::PhoneTaken);
            return Err(errors.into_result(locale).expect_err("one error was added"));
        }
    };

    let master_key = server
        .api_key_encrypted
        .as_deref()
        .map(|sealed| state.cipher.decrypt(sealed))
        .transpose()
        .map_err(ApiError::internal)?
        .unwrap_or_default();
    let client = state.evolution.server(&server.base_url, &master_key);
    // The row's own token is the one to create with: a concurrent call for the same row
    // sends the same one.
    let token = state
        .cipher
        .decrypt(&instance.evolution_api_key_encrypted)
        .map_err(ApiError::internal)?;
    let webhook = inbound_webhook(&state, &server).await?;
    let number = phone.as_ref().map(PhoneNumber::digits);
    let remote =
        provision_remotely(&client, &instance.instance_name, &token, number, webhook).await;
    let remote = match remote {
        Ok(remote) => remote,
        Err(error) => {
            if inserted {
                mark_error(&state, &tenant, instance.id, auditor).await?;
            }
            return Err(ApiError::evolution(&upstream(&server), &error));
        }
    };
    let status = if inserted || remote.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let changes = remote.changes(&state, &instance, now);
    let id = instance.id;
    let today = tenant_today(&state, &tenant);
    let audited_tenant = tenant.clone();
    let updated = state
        .transaction(move |conn| {
            let tenant = &audited_tenant;
            let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                return Ok(None);
            };
            let Some(updated) = remote_instances::record(conn, id, &changes)? else {
                return Ok(None);
            };
            // An instance this call inserted did not exist before the request.
            let before = if inserted {
                None
            } else {
                Some(audit_snapshot(&before, tenant, today)?)
            };
            auditor.record(
                conn,
                Action::InstanceProvisioned,
                id,
                Some(tenant.id),
                before,
                Some(audit_snapshot(&updated, tenant, today)?),
            )?;
            Ok(Some(updated))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(crate::error::Resource::WhatsappInstance))?;
    respond(&state, &tenant, updated, status)
}

/// The server named by `evolution_server_id`, or the default one. A named server that
/// is missing, inactive or has no key is a field error; no usable default is a 503.
fn choose_server(
    conn: &mut crate::db::DbConnection,
    server_id: Option<i64>,
    errors: &mut FieldErrors,
) -> Result<Option<EvolutionServer>, ApiError> {
    let usable = |server: &EvolutionServer| server.is_active && server.api_key_encrypted.is_some();
    if let Some(id) = server_id {
        return Ok(match evolution_servers::find(conn, id)? {
            Some(server) if usable(&server) => Some(server),
            Some(_) => {
                errors.add("evolution_server_id", Msg::EvolutionServerUnusable);
                None
            }
            None => {
                errors.add("evolution_server_id", Msg::EvolutionServerMissing);
                None
            }
        });
    }
    // Invalid input is a 422 before anything else.
    if !errors.is_empty() {
        return Ok(None);
    }
    match evolution_servers::default_server(conn)? {
        Some(server) if usable(&server) => Ok(Some(server)),
        Some(server) => Err(ApiError::no_evolution_server(&format!(
            "The default Evolution API server `{}` is inactive or has no API key.",
            server.name
        ))),
        None => Err(ApiError::no_evolution_server(
            "No default Evolution API server is configured.",
        )),
    }
}

fn generated_name(tenant_id: i64) -> String {
    let random = Alphanumeric
        .sample_string(&mut rand::thread_rng(), 8)
        .to_lowercase();
    format!("tenant-{tenant_id}-{random}")
}

fn max_instances_reached(max: i64) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "whatsapp.max_instances_reached",
        format!("The tenant already has {max} WhatsApp instances, the most allowed (EVOLUTION_API_MAX_INSTANCES_PER_TENANT)"),
    )
    .with_params(serde_json::json!({ "max": max }))
}

/// Leaves the instance this call inserted in `error`. It stays in Relevo (calling again
/// repairs it), so the audit log records it as created.
async fn mark_error(
    state: &AppState,
    tenant: &Tenant,
    id: i64,
    auditor: Auditor,
) -> Result<(), ApiError> {
    let changes = RemoteChanges {
        connection_status: Some("error".into()),
        last_checked_at: Some(state.clock.now().naive_utc()),
        ..RemoteChanges::default()
    };
    let today = tenant_today(state, tenant);
    let tenant = tenant.clone();
    state
        .transaction(move |conn| {
            let Some(created) = remote_instances::record(conn, id, &changes)? else {
                return Ok(());
            };
            auditor.record(
                conn,
                Action::InstanceCreated,
                id,
                Some(tenant.id),
                None,
                Some(audit_snapshot(&created, &tenant, today)?),
            )?;
            Ok(())
        })
        .await
}

/// What Evolution said while provisioning.
struct Provisioned {
    /// This call created the instance on Evolution.
    created: bool,
    /// The instance's key, when Evolution told it.
    token: Option<String>,
    /// The instance as Evolution listed it, when it existed before.
    listed: Option<RemoteInstance>,
    answer: ConnectAnswer,
}

impl Provisioned {
    fn changes(
        self,
        state: &AppState,
        before: &Instance,
        now: chrono::NaiveDateTime,
    ) -> RemoteChanges {
        let listed = self.listed.unwrap_or_default();
        RemoteChanges {
            evolution_api_key_encrypted: self.token.map(|token| state.cipher.encrypt(&token)),
            owner_jid: listed.owner_jid.map(Some),
            profile_name: listed.profile_name.map(Some),
            provisioned: Some(true),
            updated_at: Some(now),
            ..connect_changes(before, self.answer, now)
        }
    }
}

/// Makes sure the instance exists on the server (creating it with `token` when it does
/// not), points its webhook at Relevo when asked to, and asks for a fresh QR code. No
/// database transaction is open meanwhile.
async fn provision_remotely(
    client: &EvolutionClient,
    name: &str,
    token: &str,
    number: Option<&str>,
    webhook: Option<WebhookConfig>,
) -> Result<Provisioned, EvolutionError> {
    let mut listed = client.fetch_instance(name).await?;
    let mut created = false;
    let mut remote_token = listed.as_ref().and_then(|row| row.token.clone());
    if listed.is_none() {
        let new = NewRemoteInstance {
            name,
            token,
            number,
        };
        match client.create_instance(&new).await {
            Ok(answer) => {
                created = true;
                remote_token = answer.token.or_else(|| Some(token.to_string()));
            }
            // A concurrent call created it first.
            Err(error) if error.is_name_in_use() => {
                listed = client.fetch_instance(name).await?;
                remote_token = listed.as_ref().and_then(|row| row.token.clone());
            }
            Err(error) => return Err(error),
        }
    }
    if let Some(webhook) = webhook {
        client.set_webhook(name, &webhook).await?;
    }
    let answer = client.connect(name, number).await?;
    Ok(Provisioned {
        created,
        token: remote_token,
        listed,
        answer,
    })
}

/// Relevo's inbound webhook for instances of `server`, when `RELEVO_PUBLIC_URL` is set.
async fn inbound_webhook(
    state: &AppState,
    server: &EvolutionServer,
) -> Result<Option<WebhookConfig>, ApiError> {
    let Some(public_url) = &state.settings.public_url else {
        return Ok(None);
    };
    let candidate = state
        .cipher
        .encrypt(&Alphanumeric.sample_string(&mut rand::thread_rng(), 40));
    let server_id = server.id;
    let sealed = state
        .write(move |conn| {
            Ok(evolution_servers::webhook_token(
                conn, server_id, candidate,
            )?)
        })
        .await?;
    let token = state.cipher.decrypt(&sealed).map_err(ApiError::internal)?;
    Ok(Some(WebhookConfig {
        enabled: true,
        url: Some(format!(
            "{}/api/v1/webhooks/evolution/{token}",
            public_url.as_str().trim_end_matches('/')
        )),
        events: INBOUND_EVENTS.iter().map(|e| e.to_string()).collect(),
        by_events: false,
        base64: false,
        headers: Default::default(),
    }))
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
    Ok(HttpResponse::build(status).json(DataBody::with_message(
        InstanceWithQr { instance, qr_code },
        message,
    )))
}
