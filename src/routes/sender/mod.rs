//! The campaign sender's endpoints (SPEC section 6): claim the next instance that may
//! still send today, and give back what could not be sent.

pub mod claim;
pub mod release;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};

use crate::db::tenants::Tenant;
use crate::error::{ApiError, ErrorKey};
use crate::routes::wire::Timestamp;
use crate::sender::{next_reset_at, seconds_until, tenant_zone};

/// No instance could take a message: 409 when the tenant has no active instance that was
/// ever able to send, else 429 until the tenant's next local midnight.
pub fn none_available(any_active: bool, tenant: &Tenant, now: DateTime<Utc>) -> ApiError {
    if !any_active {
        return ApiError::conflict(
            ErrorKey::WhatsappNoActiveInstances,
            "The tenant has no active WhatsApp instances",
        );
    }
    let reset = next_reset_at(now, tenant_zone(tenant));
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorKey::WhatsappNoInstanceAvailable,
        "No WhatsApp instances available",
    )
    .with_params(serde_json::json!({
        "next_reset_at": Timestamp(reset.naive_utc()),
    }))
    .with_retry_after(seconds_until(now, reset))
}
