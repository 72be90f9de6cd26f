//! What provisioning and the lifecycle endpoints share on the HTTP side: finding the
//! instance a request names, the audit the lifecycle service writes, and the answer.
//! Calling Evolution and recording its answers is the lifecycle service's
//! ([`crate::lifecycle`]).

use actix_web::web;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    audit_snapshot, find_instance, tenant_today, InstanceDetail, InstanceListItem, InstancePath,
};
use crate::audit::Auditor;
use crate::auth::AuthUser;
use crate::db::instances::Instance;
use crate::db::tenants::Tenant;
use crate::domain::{ConnectionStatus, Timestamp};
use crate::error::{ApiError, ErrorBody};
use crate::i18n::Locale;
use crate::lifecycle::{Audit, Reachable};
use crate::request_id::RequestId;
use crate::routes::managed_tenant;
use crate::routes::wire::MessageDataBody;
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
        description = "`evolution.no_server`: no Evolution server is configured for the instance"
    )]
    Unavailable(ErrorBody),
    #[response(status = 504, description = "`evolution.timeout`")]
    Timeout(ErrorBody),
}

/// The last QR code Evolution gave for an instance; every field is `null` when there is
/// none (not asked for yet, not produced yet, or the instance is connected).
#[derive(Serialize, ToSchema, Clone, Debug)]
#[schema(as = QrCode)]
pub struct QrCodeView {
    /// A PNG data URL to show.
    #[schema(required = true, example = "data:image/png;base64,iVBORw0KGgo...")]
    pub base64: Option<String>,
    /// The raw QR text.
    #[schema(required = true, example = "2@y8hE3F...")]
    pub code: Option<String>,
    /// Eight characters to type in WhatsApp, when a phone number was given.
    #[schema(required = true, example = "WZYEH1YY")]
    pub pairing_code: Option<String>,
    /// When Evolution gave it.
    #[schema(required = true)]
    pub updated_at: Option<Timestamp>,
}

impl QrCodeView {
    /// Something to scan or type: a QR code or a pairing code.
    pub fn is_present(&self) -> bool {
        self.base64.is_some() || self.code.is_some() || self.pairing_code.is_some()
    }
}

/// What to tell a person about an instance's QR code after connect or provision: scan
/// it, or, when Evolution gave none yet (the real server answers `{"count": 0}` until
/// WhatsApp sends one), that it comes later.
pub fn qr_message(instance: &Instance, qr: &QrCodeView, scan: &'static str) -> &'static str {
    if instance.connection_status == ConnectionStatus::Connected {
        "The WhatsApp instance is connected; there is nothing to scan"
    } else if qr.is_present() {
        scan
    } else {
        "Evolution has not produced a QR code yet: it arrives by webhook and shows on GET …/qr; if none comes, connect again"
    }
}

impl From<&Instance> for QrCodeView {
    fn from(instance: &Instance) -> Self {
        Self {
            base64: instance.qr_code_base64.clone(),
            code: instance.qr_code.clone(),
            pairing_code: instance.pairing_code.clone(),
            updated_at: instance.qr_updated_at.map(Timestamp),
        }
    }
}

/// An instance (without its key) with its last QR code: connect, restart and qr.
#[derive(Serialize, ToSchema)]
pub struct InstanceWithQr {
    #[serde(flatten)]
    pub instance: InstanceListItem,
    pub qr_code: QrCodeView,
}

impl InstanceWithQr {
    pub fn build(instance: Instance, tenant: &Tenant, today: chrono::NaiveDate) -> Self {
        let qr_code = QrCodeView::from(&instance);
        Self {
            instance: InstanceListItem::build(instance, tenant, today),
            qr_code,
        }
    }
}

/// What provisioning answers: the instance with its key and tenant, and the QR code to
/// scan.
#[derive(Serialize, ToSchema)]
pub struct ProvisionedInstance {
    #[serde(flatten)]
    pub instance: InstanceDetail,
    pub qr_code: QrCodeView,
}

/// The instance a path names, of a tenant the caller manages, ready to be called on its
/// server.
pub async fn reachable(
    state: &AppState,
    user: &AuthUser,
    path: InstancePath,
) -> Result<Reachable, ApiError> {
    let tenant = managed_tenant(state, user, path.tenant).await?;
    let instance = find_instance(state, tenant.id, path.id).await?;
    Ok(Reachable::of(state, tenant, instance).await?)
}

/// How the lifecycle service writes an instance into the audit log on a request of `user`.
pub fn audit(state: &AppState, user: &AuthUser, request_id: RequestId) -> Audit {
    Audit::new(Auditor::new(user, request_id, &state.clock), audit_snapshot)
}

/// `{"data": <instance>, "message": ...}` after a lifecycle action.
pub fn respond(
    state: &AppState,
    tenant: &Tenant,
    instance: Instance,
    message: &str,
) -> web::Json<MessageDataBody<InstanceListItem>> {
    let today = tenant_today(state, tenant);
    let item = InstanceListItem::build(instance, tenant, today);
    web::Json(MessageDataBody::new(item, message))
}

/// As [`respond`], with the instance's last QR code.
pub fn respond_with_qr(
    state: &AppState,
    tenant: &Tenant,
    instance: Instance,
    message: &str,
) -> web::Json<MessageDataBody<InstanceWithQr>> {
    let today = tenant_today(state, tenant);
    let data = InstanceWithQr::build(instance, tenant, today);
    web::Json(MessageDataBody::new(data, message))
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
