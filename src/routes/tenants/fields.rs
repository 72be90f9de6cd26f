use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::tenants::TenantChanges;
use crate::domain::{
    bounded_text, parse_timezone, HttpUrl, RotationStrategy, TenantSlug, UnitPrice,
};
use crate::error::FieldErrors;
use crate::i18n::Msg;
use crate::input::{nullable_patch, optional, Input};
use crate::secrets::Cipher;

/// Create and update share this body; on create `nombre` is required and `slug`
/// defaults to one made from `nombre`. Unknown fields are ignored.
#[derive(Deserialize, ToSchema, Default)]
pub struct TenantBody {
    /// `[a-z0-9-]`, unique; defaults to one made from `nombre`.
    #[schema(value_type = Option<String>, example = "candidato-alcaldia", pattern = "^[a-z0-9-]{1,64}$")]
    #[serde(default)]
    pub slug: Input,
    /// Required on create.
    #[schema(value_type = Option<String>, max_length = 255, example = "Juan Pérez - Alcaldía")]
    #[serde(default)]
    pub nombre: Input,
    #[schema(value_type = Option<String>, max_length = 255, example = "Alcalde")]
    #[serde(default)]
    pub tipo_cargo: Input,
    #[schema(value_type = Option<String>, max_length = 64, example = "1234567890")]
    #[serde(default)]
    pub identificacion: Input,
    /// IANA time zone of the tenant's day (counters reset at its midnight).
    #[schema(value_type = Option<String>, example = "America/Bogota")]
    #[serde(default)]
    pub timezone: Input,
    /// `round_robin` (default), `least_used`, `most_remaining` or `priority`.
    #[schema(value_type = Option<String>, example = "round_robin")]
    #[serde(default)]
    pub rotation_strategy: Input,
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub callback_url: Input,
    /// Write-only: signs outbound callbacks.
    #[schema(value_type = Option<String>, min_length = 16, max_length = 255)]
    #[serde(default)]
    pub callback_secret: Input,
    /// ISO 4217 code of the messaging credits (default COP).
    #[schema(value_type = Option<String>, example = "COP")]
    #[serde(default)]
    pub currency: Input,
    /// WhatsApp messages bought.
    #[schema(value_type = Option<i64>, minimum = 0)]
    #[serde(default)]
    pub whatsapp_credits: Input,
    /// Price of one WhatsApp message in `currency`: 0 to 1000000, at most 4 decimals.
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000, example = 200)]
    #[serde(default)]
    pub whatsapp_unit_price: Input,
}

impl TenantBody {
    /// The columns this body sets. `errors` receives every problem found.
    pub fn parse(&self, cipher: &Cipher, errors: &mut FieldErrors) -> TenantChanges {
        for (field, input) in [
            ("slug", &self.slug),
            ("nombre", &self.nombre),
            ("timezone", &self.timezone),
            ("rotation_strategy", &self.rotation_strategy),
            ("currency", &self.currency),
            ("whatsapp_credits", &self.whatsapp_credits),
            ("whatsapp_unit_price", &self.whatsapp_unit_price),
        ] {
            if matches!(input, Input::Null) {
                errors.add(field, Msg::Required);
            }
        }
        let text = |max| move |raw: &str| bounded_text(raw, max);
        TenantChanges {
            slug: optional(&self.slug, "slug", errors, |raw| {
                TenantSlug::parse(raw).map(TenantSlug::into_inner)
            }),
            nombre: optional(&self.nombre, "nombre", errors, text(255)),
            tipo_cargo: nullable_patch(&self.tipo_cargo, "tipo_cargo", errors, text(255)),
            identificacion: nullable_patch(
                &self.identificacion,
                "identificacion",
                errors,
                text(64),
            ),
            timezone: optional(&self.timezone, "timezone", errors, |raw| {
                parse_timezone(raw).map(|tz| tz.name().to_string())
            }),
            rotation_strategy: optional(
                &self.rotation_strategy,
                "rotation_strategy",
                errors,
                |raw| RotationStrategy::parse(raw).map(|s| s.as_str().to_string()),
            ),
            callback_url: nullable_patch(&self.callback_url, "callback_url", errors, |raw| {
                HttpUrl::parse(raw).map(HttpUrl::into_inner)
            }),
            callback_secret_encrypted: nullable_patch(
                &self.callback_secret,
                "callback_secret",
                errors,
                |raw| match raw.chars().count() {
                    0..=15 => Err(Msg::MinLength(16)),
                    16..=255 => Ok(cipher.encrypt(raw)),
                    _ => Err(Msg::MaxLength(255)),
                },
            ),
            currency: optional(&self.currency, "currency", errors, |raw| {
                if raw.len() == 3 && raw.chars().all(|c| c.is_ascii_alphabetic()) {
                    Ok(raw.to_ascii_uppercase())
                } else {
                    Err(Msg::CurrencyFormat)
                }
            }),
            whatsapp_credits: self
                .whatsapp_credits
                .integer("whatsapp_credits", errors)
                .and_then(|credits| {
                    (credits >= 0).then_some(credits).or_else(|| {
                        errors.add("whatsapp_credits", Msg::Min(0.0));
                        None
                    })
                }),
            whatsapp_unit_price_micros: unit_price(&self.whatsapp_unit_price, errors)
                .map(UnitPrice::micros),
            updated_at: None,
        }
    }
}

/// A price sent as a JSON number or a numeric string, read exactly.
fn unit_price(input: &Input, errors: &mut FieldErrors) -> Option<UnitPrice> {
    let field = "whatsapp_unit_price";
    let raw = match input {
        Input::Absent | Input::Null => return None,
        Input::Value(Value::Number(number)) => number.to_string(),
        Input::Value(Value::String(text)) => text.trim().to_string(),
        Input::Value(_) => {
            errors.add(field, Msg::NotNumber);
            return None;
        }
    };
    UnitPrice::parse(&raw)
        .map_err(|msg| errors.add(field, msg))
        .ok()
}
