//! What provisioning and the lifecycle endpoints share on the HTTP side: finding the
//! instance a request names, the audit the lifecycle service writes, and the answer.
//! Calling Evolution and recording its answers is the lifecycle service's
//! ([`crate::lifecycle`]).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{audit_snapshot, find_instance, tenant_today, Detail, InstanceResource};
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::db::instances::Instance;
use crate::db::tenants::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::i18n::Locale;
use crate::lifecycle::{Audit, Reachable};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::{MessageDataBody, Timestamp};
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

/// The instance `id` of a tenant the caller manages, ready to be called on its server.
pub async fn reachable(
    state: &AppState,
    user: &AuthUser,
    tenant_key: String,
    id: i64,
) -> Result<Reachable, ApiError> {
    let tenant = managed_tenant(state, user, tenant_key).await?;
    let instance = find_instance(state, tenant.id, id).await?;
    Ok(Reachable::of(state, tenant, instance).await?)
}

/// How the lifecycle service writes an instance into the audit log on a request of `user`.
pub fn audit(state: &AppState, user: &AuthUser, request_id: RequestId) -> Audit {
    Audit::new(Auditor::new(user, request_id, &state.clock), audit_snapshot)
}

/// `{"data": <instance>}`, with its last QR code when `with_qr`.
pub fn respond(
    state: &AppState,
    tenant: &Tenant,
    instance: Instance,
    with_qr: bool,
    message: &str,
) -> Result<actix_web::HttpResponse, ApiError> {
    let today = tenant_today(state, tenant);
    let qr_code = QrCodeBody::from(&instance);
    let resource = InstanceResource::build(instance, tenant, today, Detail::Summary)?;
    let data = if with_qr {
        serde_json::to_value(InstanceWithQr {
            instance: resource,
            qr_code,
        })
    } else {
        serde_json::to_value(resource)
    }
    .map_err(ApiError::internal)?;
    Ok(actix_web::HttpResponse::Ok().json(MessageDataBody::new(data, message)))
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
