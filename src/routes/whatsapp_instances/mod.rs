//! Seed 001's registry of WhatsApp instances.

pub mod connect;
pub mod connection_state;
pub mod create;
pub mod delete;
pub mod events;
pub mod fields;
pub mod list;
pub mod list_all;
pub mod logout;
pub mod own_tenant;
pub mod provision;
pub mod qr;
pub mod remote;
pub mod reset_counter;
pub mod restart;
pub mod show;
pub mod statistics;
pub mod toggle_active;
pub mod update;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::claims::eligibility::is_eligible;
use crate::db::claims::{self, DayTotals};
use crate::db::instances::Instance;
use crate::db::tenants::Tenant;
use crate::domain::{ConnectionStatus, Timestamp};
use crate::error::ApiError;
use crate::routes::wire::Decimal;
use crate::secrets::Cipher;

/// `/tenants/{tenant}/whatsapp-instances...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant's id or slug.
    #[param(example = "candidato-alcaldia")]
    pub tenant: String,
}

/// `/tenants/{tenant}/whatsapp-instances/{id}...`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InstancePath {
    /// The tenant's id or slug.
    #[param(example = "candidato-alcaldia")]
    pub tenant: String,
    /// The instance's id.
    #[param(example = 1)]
    pub id: i64,
}

/// The tenant as embedded in an instance (show, create, update).
#[derive(Serialize, ToSchema, Clone)]
pub struct TenantRef {
    #[schema(example = 5)]
    pub id: i64,
    #[schema(example = "candidato-alcaldia")]
    pub slug: String,
    #[schema(example = "Juan Pérez - Alcaldía")]
    pub nombre: String,
}

impl From<&Tenant> for TenantRef {
    fn from(tenant: &Tenant) -> Self {
        Self {
            id: tenant.id,
            slug: tenant.slug.clone(),
            nombre: tenant.nombre.clone(),
        }
    }
}

/// A WhatsApp instance without its key or tenant: how lists, tenant users and the
/// lifecycle actions (toggle, reset, connect, logout, ...) show it.
#[derive(Serialize, ToSchema)]
pub struct InstanceListItem {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = 5)]
    pub tenant_id: i64,
    /// E.164; empty while unknown (an instance provisioned without a number, until its
    /// WhatsApp is linked).
    #[schema(example = "+573001234567")]
    pub phone_number: String,
    #[schema(example = "principal_campana")]
    pub instance_name: String,
    /// Its Evolution server's base URL (kept in step when the server's URL changes);
    /// `null` for an instance registered without one, which uses the default server.
    #[schema(
        required = true,
        format = "uri",
        example = "https://evolution.midominio.com"
    )]
    pub evolution_api_url: Option<String>,
    #[schema(example = 1000)]
    pub daily_message_limit: i32,
    #[schema(example = 245)]
    pub messages_sent_today: i32,
    #[schema(example = 755)]
    pub remaining_quota: i32,
    /// The local day (tenant's time zone) `messages_sent_today` counts.
    #[schema(value_type = String, format = Date, example = "2025-11-17")]
    pub last_reset_date: NaiveDate,
    pub is_active: bool,
    /// Active, linked (or never checked), with quota left today: a sender may be given it.
    pub can_send_messages: bool,
    #[schema(
        required = true,
        example = "Instancia principal para campaña electoral"
    )]
    pub notes: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub connection_status: ConnectionStatus,
    /// Lower values are used first by the `priority` rotation strategy.
    #[schema(example = 0)]
    pub priority: i32,
    /// The WhatsApp account linked, as Evolution names it.
    #[schema(required = true, example = "573001234567@s.whatsapp.net")]
    pub owner_jid: Option<String>,
    #[schema(required = true, example = "Campaña Pérez")]
    pub profile_name: Option<String>,
    /// When Relevo last read the state from Evolution.
    #[schema(required = true)]
    pub last_checked_at: Option<Timestamp>,
    /// When WhatsApp was last linked.
    #[schema(required = true)]
    pub connected_at: Option<Timestamp>,
    /// When a sender was last given this instance.
    #[schema(required = true)]
    pub last_used_at: Option<Timestamp>,
    /// The Evolution server the instance lives on (`GET /api/v1/evolution-servers/{id}`);
    /// `null` while no default server exists for an instance registered without a URL.
    #[schema(required = true, example = 1)]
    pub evolution_server_id: Option<i64>,
    /// Created on Evolution by Relevo (`provision`): deleting it deletes it there too.
    pub provisioned: bool,
    /// Why WhatsApp last dropped the link, as Evolution's `connection.update` told it
    /// (401 logged out, 403 banned, ...); `null` while linked or never told.
    #[schema(required = true, example = json!(null))]
    pub status_reason: Option<i32>,
}

/// A WhatsApp instance as a super admin sees it one at a time (show, create, update,
/// provision): the list item with its decrypted key and its tenant.
#[derive(Serialize, ToSchema)]
#[schema(as = Instance)]
pub struct InstanceDetail {
    #[serde(flatten)]
    pub item: InstanceListItem,
    /// The instance's key on its Evolution server.
    #[schema(example = "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A")]
    pub evolution_api_key: String,
    pub tenant: TenantRef,
}

/// An instance as the audit log keeps it: its list form, without the key or QR code.
pub fn audit_snapshot(
    instance: &Instance,
    tenant: &Tenant,
    today: NaiveDate,
) -> diesel::QueryResult<serde_json::Value> {
    crate::audit::snapshot(&InstanceListItem::build(instance.clone(), tenant, today))
}

impl InstanceListItem {
    pub fn build(instance: Instance, tenant: &Tenant, today: NaiveDate) -> Self {
        debug_assert_eq!(instance.tenant_id, tenant.id);
        let usage = instance.usage_on(today);
        Self {
            can_send_messages: is_eligible(&instance, today),
            id: instance.id,
            tenant_id: instance.tenant_id,
            phone_number: instance.phone_number,
            instance_name: instance.instance_name,
            evolution_api_url: instance.evolution_api_url,
            daily_message_limit: instance.daily_message_limit,
            messages_sent_today: usage.sent,
            remaining_quota: usage.remaining(),
            last_reset_date: usage.date,
            is_active: instance.is_active,
            notes: instance.notes,
            created_at: instance.created_at.into(),
            updated_at: instance.updated_at.into(),
            connection_status: instance.connection_status,
            priority: instance.priority,
            owner_jid: instance.owner_jid,
            profile_name: instance.profile_name,
            last_checked_at: instance.last_checked_at.map(Timestamp),
            connected_at: instance.connected_at.map(Timestamp),
            last_used_at: instance.last_used_at.map(Timestamp),
            evolution_server_id: instance.evolution_server_id,
            provisioned: instance.provisioned,
            status_reason: instance.status_reason,
        }
    }
}

impl InstanceDetail {
    /// Fails only when the stored key cannot be decrypted.
    pub fn build(
        instance: Instance,
        tenant: &Tenant,
        today: NaiveDate,
        cipher: &Cipher,
    ) -> Result<Self, ApiError> {
        let evolution_api_key = cipher
            .decrypt(&instance.evolution_api_key_encrypted)
            .map_err(ApiError::internal)?;
        Ok(Self {
            item: InstanceListItem::build(instance, tenant, today),
            evolution_api_key,
            tenant: TenantRef::from(tenant),
        })
    }
}

/// Seed 001 section 6, exactly.
#[derive(Serialize, ToSchema)]
pub struct InstanceStatistics {
    #[schema(example = 1)]
    pub instance_id: i64,
    #[schema(example = "+573001234567")]
    pub phone_number: String,
    pub is_active: bool,
    #[schema(example = 1000)]
    pub daily_limit: i32,
    #[schema(example = 245)]
    pub sent_today: i32,
    #[schema(example = 755)]
    pub remaining_today: i32,
    #[schema(value_type = f64, example = 24.5)]
    pub usage_percentage: Decimal,
    pub can_send: bool,
    /// The start of the local day the counter counts (tenant's time zone).
    #[schema(example = "2025-11-17 00:00:00")]
    pub last_reset: String,
}

/// An instance's statistics with its send history (both instance statistics endpoints).
#[derive(Serialize, ToSchema)]
pub struct InstanceStatisticsWithHistory {
    #[serde(flatten)]
    pub statistics: InstanceStatistics,
    /// The last 30 local days, oldest first (not part of seed 001).
    pub history: Vec<HistoryDay>,
}

/// One local day of the send log: `sent` counts what was claimed and not released.
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq)]
pub struct HistoryDay {
    #[schema(value_type = String, format = Date, example = "2025-11-17")]
    pub date: NaiveDate,
    #[schema(example = 245)]
    pub sent: i64,
    #[schema(example = 3)]
    pub released: i64,
}

pub const HISTORY_DAYS: u64 = 30;

/// The `HISTORY_DAYS` days up to `today`, oldest first, quiet days as zeros.
pub fn history(totals: &[DayTotals], today: NaiveDate) -> Vec<HistoryDay> {
    let first = today - Days::new(HISTORY_DAYS - 1);
    first
        .iter_days()
        .take(HISTORY_DAYS as usize)
        .map(|date| {
            let day = totals.iter().find(|day| day.date == date);
            let (granted, released) = day.map_or((0, 0), |day| (day.granted, day.released));
            HistoryDay {
                date,
                sent: granted - released,
                released,
            }
        })
        .collect()
}

/// An instance's statistics with its history, as both statistics endpoints answer.
pub async fn statistics_with_history(
    state: &crate::state::AppState,
    instance: &Instance,
    today: NaiveDate,
) -> Result<InstanceStatisticsWithHistory, ApiError> {
    let (tenant_id, id) = (instance.tenant_id, instance.id);
    let since = today - Days::new(HISTORY_DAYS - 1);
    let totals = state
        .db(move |conn| Ok(claims::daily_totals(conn, tenant_id, Some(id), since)?))
        .await?;
    Ok(InstanceStatisticsWithHistory {
        statistics: InstanceStatistics::of(instance, today),
        history: history(&totals, today),
    })
}

impl InstanceStatistics {
    pub fn of(instance: &Instance, today: NaiveDate) -> Self {
        let usage = instance.usage_on(today);
        Self {
            instance_id: instance.id,
            phone_number: instance.phone_number.clone(),
            is_active: instance.is_active,
            daily_limit: usage.limit,
            sent_today: usage.sent,
            remaining_today: usage.remaining(),
            usage_percentage: Decimal::percentage(usage.sent as f64, usage.limit as f64),
            can_send: is_eligible(instance, today),
            last_reset: format!("{} 00:00:00", usage.date.format("%Y-%m-%d")),
        }
    }
}

pub use crate::lifecycle::instance::tenant_today;

/// The instance `id` of `tenant_id`, or 404.
pub async fn find_instance(
    state: &crate::state::AppState,
    tenant_id: i64,
    id: i64,
) -> Result<Instance, ApiError> {
    state
        .db(move |conn| Ok(crate::db::instances::find_in_tenant(conn, tenant_id, id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(crate::error::Resource::WhatsappInstance))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn instance(last_reset: &str, sent: i32, limit: i32) -> Instance {
        let at = NaiveDateTime::default();
        Instance {
            id: 1,
            tenant_id: 5,
            phone_number: "+573001234567".into(),
            instance_name: "principal".into(),
            evolution_api_key_encrypted: String::new(),
            evolution_api_url: None,
            daily_message_limit: limit,
            messages_sent_today: sent,
            last_reset_date: last_reset.parse().unwrap(),
            is_active: true,
            notes: None,
            connection_status: ConnectionStatus::Unknown,
            owner_jid: None,
            profile_name: None,
            last_checked_at: None,
            connected_at: None,
            priority: 0,
            last_used_at: None,
            created_at: at,
            updated_at: at,
            evolution_server_id: None,
            provisioned: false,
            qr_code: None,
            qr_code_base64: None,
            pairing_code: None,
            qr_updated_at: None,
            counter_epoch: 0,
            status_reason: None,
            status_since: None,
            sendable_since: None,
            notified_status: None,
            remote_event_at: None,
            status_confirmed_at: None,
        }
    }

    #[test]
    fn a_count_above_a_lowered_limit_leaves_nothing() {
        let today: NaiveDate = "2025-11-17".parse().unwrap();
        let mut over = instance("2025-11-17", 300, 200);
        let usage = over.usage_on(today);
        assert_eq!(usage.remaining(), 0);
        assert!(!is_eligible(&over, today));
        over.daily_message_limit = 1000;
        over.connection_status = ConnectionStatus::Disconnected;
        assert!(!is_eligible(&over, today));
    }

    #[test]
    fn history_covers_thirty_days_with_quiet_days_as_zero() {
        let today: NaiveDate = "2025-11-17".parse().unwrap();
        let totals = [DayTotals {
            date: "2025-11-16".parse().unwrap(),
            granted: 12,
            released: 2,
        }];
        let days = history(&totals, today);
        assert_eq!(days.len(), 30);
        assert_eq!(days[0].date, "2025-10-19".parse::<NaiveDate>().unwrap());
        assert_eq!(
            days[29],
            HistoryDay {
                date: today,
                sent: 0,
                released: 0
            }
        );
        assert_eq!((days[28].sent, days[28].released), (10, 2));
    }

    #[test]
    fn statistics_match_the_seed() {
        let today: NaiveDate = "2025-11-17".parse().unwrap();
        let stats = serde_json::to_value(InstanceStatistics::of(
            &instance("2025-11-17", 245, 1000),
            today,
        ))
        .unwrap();
        assert_eq!(
            stats,
            serde_json::json!({
                "instance_id": 1, "phone_number": "+573001234567", "is_active": true,
                "daily_limit": 1000, "sent_today": 245, "remaining_today": 755,
                "usage_percentage": 24.5, "can_send": true, "last_reset": "2025-11-17 00:00:00"
            })
        );
    }
}
