//! Tenants (SPEC section 4), named in paths by id or slug.

pub mod create;
pub mod delete;
pub mod fields;
pub mod list;
pub mod show;
pub mod statistics;
pub mod update;

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::db::tenants::Tenant;
use crate::domain::{RotationStrategy, Timestamp};
use crate::registry::tenants::Written;
use crate::routes::whatsapp_instances::InstanceListItem;
use crate::routes::wire::{Decimal, Money};

/// A tenant (SPEC section 4).
#[derive(Serialize, ToSchema)]
#[schema(as = Tenant)]
pub struct TenantResource {
    #[schema(example = 5)]
    pub id: i64,
    #[schema(example = "candidato-alcaldia")]
    pub slug: String,
    #[schema(example = "Juan Pérez - Alcaldía")]
    pub nombre: String,
    #[schema(required = true, example = "Alcalde")]
    pub tipo_cargo: Option<String>,
    #[schema(required = true, example = "1234567890")]
    pub identificacion: Option<String>,
    /// IANA time zone name: the tenant's day, and its counters' midnight.
    #[schema(example = "America/Bogota")]
    pub timezone: String,
    #[schema(value_type = RotationStrategy)]
    pub rotation_strategy: String,
    /// Where outbound events are posted; `null` when none.
    #[schema(required = true, example = "https://crm.example.com/relevo/events")]
    pub callback_url: Option<String>,
    /// The secret itself is write-only.
    pub has_callback_secret: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A tenant as create and update answer it: with the callback secret Relevo generated
/// when a `callback_url` was set without one, which is shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct TenantWithCallbackSecret {
    #[serde(flatten)]
    pub tenant: TenantResource,
    /// Present only when Relevo generated the secret in this request: keep it, it is
    /// never shown again (signs `X-Relevo-Signature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, example = "whsec_5f2b8c…")]
    pub callback_secret: Option<String>,
}

impl From<Written> for TenantWithCallbackSecret {
    fn from(written: Written) -> Self {
        Self {
            tenant: TenantResource::from(&written.tenant),
            callback_secret: written.callback_secret,
        }
    }
}

impl From<&Tenant> for TenantResource {
    fn from(tenant: &Tenant) -> Self {
        Self {
            id: tenant.id,
            slug: tenant.slug.clone(),
            nombre: tenant.nombre.clone(),
            tipo_cargo: tenant.tipo_cargo.clone(),
            identificacion: tenant.identificacion.clone(),
            timezone: tenant.timezone.clone(),
            rotation_strategy: tenant.rotation_strategy.clone(),
            callback_url: tenant.callback_url.clone(),
            has_callback_secret: tenant.callback_secret_encrypted.is_some(),
            created_at: tenant.created_at.into(),
            updated_at: tenant.updated_at.into(),
        }
    }
}

/// A tenant as the audit log keeps it: its public form and its messaging credits'
/// settings, never the callback secret.
pub fn audit_snapshot(tenant: &Tenant) -> diesel::QueryResult<Value> {
    let mut snapshot = crate::audit::snapshot(&TenantResource::from(tenant))?;
    snapshot["currency"] = json!(tenant.currency);
    snapshot["whatsapp_credits"] = json!(tenant.whatsapp_credits);
    snapshot["whatsapp_unit_price"] =
        json!(Money::from_micros(tenant.whatsapp_unit_price_micros.into()));
    Ok(snapshot)
}

/// Seed 001 section 8: the tenant with its instances (list form, no keys), counts and
/// messaging credits.
#[derive(Serialize, ToSchema)]
pub struct TenantDetail {
    #[serde(flatten)]
    pub tenant: TenantResource,
    pub whatsapp_instances: Vec<InstanceListItem>,
    #[schema(example = 3)]
    pub whatsapp_instances_count: i64,
    #[schema(example = 2)]
    pub active_whatsapp_instances_count: i64,
    pub messaging_credits: MessagingCredits,
}

/// Seed 001's messaging credits: emails (Relevo sends none, so that line stays at zero)
/// and WhatsApp (consumed by sender claims, less what was released).
#[derive(Serialize, ToSchema)]
pub struct MessagingCredits {
    pub emails: CreditLine,
    pub whatsapp: CreditLine,
    /// Both lines' `total_cost`, added up.
    pub total_cost: Money,
    /// ISO 4217 code, upper-case.
    #[schema(example = "COP")]
    pub currency: String,
    /// The last sender claim or release; `null` before the first.
    #[schema(required = true)]
    pub last_transaction_at: Option<Timestamp>,
}

/// `available` is what is left of the credits bought; `percentage_used` is `used`
/// over everything bought.
#[derive(Serialize, ToSchema)]
pub struct CreditLine {
    #[schema(example = 2000)]
    pub available: i64,
    #[schema(example = 450)]
    pub used: i64,
    /// `used` times `unit_price`, exactly.
    pub total_cost: Money,
    pub unit_price: Money,
    /// 0 to 100, rounded to two decimals.
    #[schema(value_type = f64, example = 18.37)]
    pub percentage_used: Decimal,
}

impl CreditLine {
    /// `unit_price_micros` is in millionths of the currency; the cost is exact, since
    /// i64 messages at 10^12 millionths each fit in an i128.
    pub fn new(bought: i64, used: i64, unit_price_micros: i64) -> Self {
        Self {
            available: (bought - used).max(0),
            used,
            total_cost: Money::from_micros(i128::from(used) * i128::from(unit_price_micros)),
            unit_price: Money::from_micros(unit_price_micros.into()),
            percentage_used: Decimal::percentage(used as f64, bought.max(used) as f64),
        }
    }
}

impl MessagingCredits {
    /// Relevo sends no email, so that line stays at zero. WhatsApp usage is what
    /// sender claims were granted, less what was released.
    pub fn of(tenant: &Tenant, whatsapp_used: i64, last_transaction_at: Option<Timestamp>) -> Self {
        let emails = CreditLine::new(0, 0, 0);
        let whatsapp = CreditLine::new(
            tenant.whatsapp_credits,
            whatsapp_used,
            tenant.whatsapp_unit_price_micros,
        );
        Self {
            total_cost: Money::from_micros(emails.total_cost.0 + whatsapp.total_cost.0),
            emails,
            whatsapp,
            currency: tenant.currency.clone(),
            last_transaction_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_line_matches_the_seed_arithmetic() {
        // Seed 001: 450 used of 2450 bought at 200 → 2000 available, 90000, 18.37 %.
        let line = serde_json::to_value(CreditLine::new(2450, 450, 200_000_000)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"available": 2000, "used": 450, "total_cost": 90000,
                               "unit_price": 200, "percentage_used": 18.37})
        );
    }

    #[test]
    fn the_largest_credits_at_the_highest_price_cost_exactly() {
        let line = CreditLine::new(i64::MAX, i64::MAX, 1_000_000_000_000);
        let written = serde_json::to_string(&line).unwrap();
        assert!(
            written.contains(r#""total_cost":9223372036854775807000000,"#),
            "{written}"
        );
        let cents = CreditLine::new(10, 3, 123_400);
        assert!(serde_json::to_string(&cents)
            .unwrap()
            .contains(r#""total_cost":0.3702,"#));
    }
}
