//! What provisioning and the lifecycle endpoints share: the Evolution server an instance
//! lives on, the key Relevo calls it with, and how Evolution's answers change the instance.

use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{audit_snapshot, find_instance, tenant_today, Detail, InstanceResource};
use crate::audit::{Action, Auditor};
use crate::auth::AuthUser;
use crate::db::evolution_servers::{self, EvolutionServer};
use crate::db::instances::{self, Instance};
use crate::db::remote_instances::{self, RemoteChanges};
use crate::db::tenants::Tenant;
use crate::error::{ApiError, ErrorBody, Resource};
use crate::evolution::{EvolutionClient, EvolutionError};
use crate::i18n::Locale;
use crate::routes::evolution_servers::upstream;
use crate::routes::managed_tenant;
use crate::routes::wire::{DataBody, Timestamp};
use crate::state::AppState;

/// The failures of a call to an instance's Evolution server, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum EvolutionFailures {
    #[response(
        status = 502,
        description = "`evolution.unavailable` (unreachable, 5xx), `evolution.unauthorized` (key refused) or `evolution.rejected`"
    )]
    BadGateway(ErrorBody),
    #[response(
        status = 503,
        description = "`evolution.no_server` or `evolution.server_inactive`: Relevo may not call a server"
    )]
    Unavailable(ErrorBody),
    #[response(status = 504, description = "`evolution.timeout`")]
    Timeout(ErrorBody),
}

/// The last QR code Evolution gave for an instance; every field is `null` when there is
/// none (not asked for yet, not produced yet, or the instance is connected).
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct QrCodeBody {
    /// A PNG data URL to show.
    #[schema(example = "data:image/png;base64,iVBORw0KGgo...")]
    pub base64: Option<String>,
    /// The raw QR text.
    #[schema(example = "2@y8hE3F...")]
    pub code: Option<String>,
    /// Eight characters to type in WhatsApp, when a phone number was given.
    #[schema(example = "WZYEH1YY")]
    pub pairing_code: Option<String>,
    /// When Evolution gave it.
    pub updated_at: Option<Timestamp>,
}

impl From<&Instance> for QrCodeBody {
    fn from(instance: &Instance) -> Self {
        Self {
            base64: instance.qr_code_base64.clone(),
            code: instance.qr_code.clone(),
            pairing_code: instance.pairing_code.clone(),
            updated_at: instance.qr_updated_at.map(Timestamp),
        }
    }
}

/// An instance with its last QR code.
#[derive(Serialize, ToSchema)]
pub struct InstanceWithQr {
    #[serde(flatten)]
    pub instance: InstanceResource,
    pub qr_code: QrCodeBody,
}

/// An instance of a tenant the caller manages, with the server it lives on and a client
/// for that server: authenticated with the server's key, or the instance's own key when
/// the server has none.
pub struct Reachable {
    pub tenant: Tenant,
    pub instance: Instance,
    pub server: EvolutionServer,
    pub client: EvolutionClient,
}

impl Reachable {
    pub async fn find(
        state: &AppState,
        user: &AuthUser,
        tenant_key: String,
        id: i64,
    ) -> Result<Self, ApiError> {
        let tenant = managed_tenant(state, user, tenant_key).await?;
        let instance = find_instance(state, tenant.id, id).await?;
        Self::of(state, tenant, instance).await
    }

    pub async fn of(
        state: &AppState,
        tenant: Tenant,
        instance: Instance,
    ) -> Result<Self, ApiError> {
        let server = instance_server(state, &instance).await?;
        let sealed_key = server
            .api_key_encrypted
            .as_deref()
            .unwrap_or(&instance.evolution_api_key_encrypted);
        let key = state
            .cipher
            .decrypt(sealed_key)
            .map_err(ApiError::internal)?;
        let client = state.evolution.server(&server.base_url, &key);
        Ok(Self {
            tenant,
            instance,
            server,
            client,
        })
    }

    pub fn name(&self) -> &str {
        &self.instance.instance_name
    }

    /// Applies what Evolution answered to the instance.
    pub async fn record(
        &self,
        state: &AppState,
        changes: RemoteChanges,
    ) -> Result<Instance, ApiError> {
        let id = self.instance.id;
        state
            .write(move |conn| Ok(remote_instances::record(conn, id, &changes)?))
            .await?
            .ok_or_else(|| ApiError::not_found(Resource::WhatsappInstance))
    }

    /// As [`record`](Self::record), for a change a super admin asked for: the audit row is
    /// written in the transaction that applies the answer.
    pub async fn record_audited(
        &self,
        state: &AppState,
        changes: RemoteChanges,
        auditor: Auditor,
        action: Action,
    ) -> Result<Instance, ApiError> {
        let (tenant, id) = (self.tenant.clone(), self.instance.id);
        let today = tenant_today(state, &self.tenant);
        state
            .transaction(move |conn| {
                let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                    return Ok(None);
                };
                let Some(updated) = remote_instances::record(conn, id, &changes)? else {
                    return Ok(None);
                };
                auditor.record(
                    conn,
                    action,
                    id,
                    Some(tenant.id),
                    Some(audit_snapshot(&before, &tenant, today)?),
                    Some(audit_snapshot(&updated, &tenant, today)?),
                )?;
                Ok(Some(updated))
            })
            .await?
            .ok_or_else(|| ApiError::not_found(Resource::WhatsappInstance))
    }

    /// Records a change a super admin made on Evolution that changes nothing in Relevo's
    /// database (webhook and websocket settings): `after` is what Evolution now holds.
    pub async fn audit_remote_change(
        &self,
        state: &AppState,
        auditor: Auditor,
        action: Action,
        after: Value,
    ) -> Result<(), ApiError> {
        let (tenant_id, id) = (self.tenant.id, self.instance.id);
        state
            .transaction(move |conn| {
                auditor.record(conn, action, id, Some(tenant_id), None, Some(after.clone()))?;
                Ok(())
            })
            .await
    }

    /// The error for a failed call. When Evolution no longer has the instance, the
    /// instance is marked `error` and the answer is a 409 telling to provision it again.
    pub async fn failure(&self, state: &AppState, error: EvolutionError) -> ApiError {
        if !error.is_not_found() {
            return self.upstream_error(&error);
        }
        let changes = RemoteChanges {
            connection_status: Some("error".into()),
            last_checked_at: Some(state.clock.now().naive_utc()),
            ..RemoteChanges::default()
        };
        if let Err(db_error) = self.record(state, changes).await {
            return db_error;
        }
        ApiError::conflict(
            "evolution.instance_missing",
            format!(
                "Evolution API server `{}` no longer has the instance `{}`; provision it again",
                self.server.name,
                self.name()
            ),
        )
        .with_params(serde_json::json!({
            "evolution_server_id": self.server.id,
            "instance_name": self.name(),
        }))
    }

    pub fn upstream_error(&self, error: &EvolutionError) -> ApiError {
        ApiError::evolution(&upstream(&self.server), error)
    }

    /// `{"data": <instance>}`, with its last QR code when `with_qr`.
    pub fn respond(
        &self,
        state: &AppState,
        instance: Instance,
        with_qr: bool,
        message: &str,
    ) -> Result<actix_web::HttpResponse, ApiError> {
        let today = tenant_today(state, &self.tenant);
        let qr_code = QrCodeBody::from(&instance);
        let resource = InstanceResource::build(instance, &self.tenant, today, Detail::Summary)?;
        let data = if with_qr {
            serde_json::to_value(InstanceWithQr {
                instance: resource,
                qr_code,
            })
        } else {
            serde_json::to_value(resource)
        }
        .map_err(ApiError::internal)?;
        Ok(actix_web::HttpResponse::Ok().json(DataBody::with_message(data, message)))
    }
}

/// The active server an instance lives on, or a 503 saying why Relevo may not call it.
pub async fn instance_server(
    state: &AppState,
    instance: &Instance,
) -> Result<EvolutionServer, ApiError> {
    let server_id = instance.evolution_server_id;
    let server = match server_id {
        Some(id) => {
            state
                .db(move |conn| Ok(evolution_servers::find(conn, id)?))
                .await?
        }
        None => None,
    };
    let server = server.ok_or_else(|| {
        ApiError::no_evolution_server("The instance belongs to no Evolution server.")
    })?;
    if !server.is_active {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "evolution.server_inactive",
            format!(
                "Evolution API server `{}` is inactive; activate it (PUT /api/v1/evolution-servers/{}) to manage its instances.",
                server.name, server.id
            ),
        ));
    }
    Ok(server)
}

/// A JSON object body that may also be left out entirely.
pub fn optional_json_object<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
    locale: Locale,
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => {
            crate::input::refuse_nul(&object, locale)?;
            serde_json::from_value(Value::Object(object))
                .map_err(|_| ApiError::malformed("The request body must be a JSON object."))
        }
        Ok(_) => Err(ApiError::malformed(
            "The request body must be a JSON object.",
        )),
        Err(error) => Err(ApiError::malformed(format!(
            "The request body is not valid JSON: {error}"
        ))),
    }
}
