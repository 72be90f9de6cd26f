use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::db::tenants::TenantChanges;
use crate::domain::{parse_timezone, HttpUrl, RotationStrategy, TenantSlug, UnitPrice};
use crate::error::FieldErrors;
use crate::i18n::Msg;
use crate::input::{at_most, at_most_or, nullable_patch, optional, Input};
use crate::registry::tenants::{RefusedTenant, ValidNewTenant};
use crate::secrets::Cipher;
use crate::targets::{Target, TargetPolicy};

/// A tenant body as sent, to create a tenant (`nombre` required) or to change one (only
/// the fields sent). The document names it twice: `CreateTenantBody` (described by the
/// comments below) and [`UpdateTenantBody`] (the same fields and constraints, described
/// for a change).
#[derive(Deserialize, ToSchema, Default)]
#[schema(as = CreateTenantBody, description = CREATE_DESCRIPTION)]
pub struct TenantBody {
    /// Unique; `[a-z0-9-]`, 1 to 64 characters, not starting or ending with `-`, not all
    /// digits (a number names a tenant by id). Defaults to one made from `nombre`
    /// (`Juan Pérez - Alcaldía` → `juan-perez-alcaldia`); required when `nombre` has no
    /// letter or digit to make one from.
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = r"^(?:[0-9]*[a-z]|[0-9]+-[a-z0-9-]*[a-z0-9])(?:[a-z0-9-]*[a-z0-9])?$",
        example = "candidato-alcaldia")]
    #[serde(default)]
    pub slug: Input,
    #[schema(value_type = String, required = true, max_length = 255,
        example = "Juan Pérez - Alcaldía")]
    #[serde(default)]
    pub nombre: Input,
    #[schema(value_type = Option<String>, max_length = 255, example = "Alcalde")]
    #[serde(default)]
    pub tipo_cargo: Input,
    #[schema(value_type = Option<String>, max_length = 64, example = "1234567890")]
    #[serde(default)]
    pub identificacion: Input,
    /// IANA time zone name, exactly as the tz database writes it (counters reset at the
    /// tenant's midnight). Default: `RELEVO_DEFAULT_TIMEZONE` (`UTC` unless set).
    #[schema(value_type = String, example = "America/Bogota")]
    #[serde(default)]
    pub timezone: Input,
    /// Default `round_robin`.
    #[schema(value_type = RotationStrategy)]
    #[serde(default)]
    pub rotation_strategy: Input,
    /// Where outbound events are posted: an `http` or `https` URL without a user name or
    /// password, on a public address: not loopback (`localhost`), private, link-local or
    /// otherwise reserved, neither as written nor as its name resolves (unless
    /// `RELEVO_ALLOW_PRIVATE_TARGETS=1`).
    #[schema(value_type = crate::domain::OptionalHttpUrl, inline,
        example = "https://crm.example.com/relevo/events")]
    #[serde(default)]
    pub callback_url: Input,
    /// Write-only: signs outbound callbacks. 16 to 255 characters, taken exactly as sent
    /// (spaces count).
    #[schema(value_type = Option<String>, min_length = 16, max_length = 255)]
    #[serde(default)]
    pub callback_secret: Input,
    /// ISO 4217 code of the messaging credits, in any letter case (stored upper-cased).
    /// Default `COP`.
    #[schema(value_type = String, pattern = "^[A-Za-z]{3}$", example = "COP")]
    #[serde(default)]
    pub currency: Input,
    /// WhatsApp messages bought. Default 0.
    #[schema(value_type = i64, minimum = 0, example = 2450)]
    #[serde(default)]
    pub whatsapp_credits: Input,
    /// Price of one WhatsApp message in `currency`: 0 to 1000000 with at most 4
    /// decimals, kept exactly. Default 0.
    #[schema(value_type = f64, minimum = 0, maximum = 1000000, example = 200)]
    #[serde(default)]
    pub whatsapp_unit_price: Input,
}

const CREATE_DESCRIPTION: &str = "A new tenant. Unknown fields are ignored; strings are \
    trimmed, and an empty string\ncounts as `null`.";

/// The document's schema of a change to a tenant: [`TenantBody`]'s fields and constraints,
/// none required, with the descriptions below (a field not listed keeps its own).
pub struct UpdateTenantBody;

const UPDATE_DESCRIPTION: &str = "What to change in a tenant: only the fields sent change. \
    Unknown fields are\nignored; strings are trimmed, and an empty string counts as `null`. \
    `null` clears\n`tipo_cargo`, `identificacion`, `callback_url` and `callback_secret`; \
    the other\nfields cannot be `null`.";

const UPDATE_FIELD_DESCRIPTIONS: &[(&str, Option<&str>)] = &[
    (
        "slug",
        Some("Unique; `[a-z0-9-]`, 1 to 64 characters, not starting or ending with `-`, not all\ndigits."),
    ),
    ("timezone", Some("IANA time zone name, exactly as the tz database writes it.")),
    ("rotation_strategy", None),
    (
        "callback_url",
        Some("An `http` or `https` URL without a user name or password, on a public address (as\non create)."),
    ),
    (
        "callback_secret",
        Some("Write-only: 16 to 255 characters, taken exactly as sent (spaces count)."),
    ),
    ("currency", Some("ISO 4217 code, in any letter case (stored upper-cased).")),
    ("whatsapp_credits", None),
    ("whatsapp_unit_price", Some("0 to 1000000 with at most 4 decimals, kept exactly.")),
];

impl PartialSchema for UpdateTenantBody {
    fn schema() -> RefOr<Schema> {
        let mut schema = TenantBody::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some(UPDATE_DESCRIPTION.to_string());
            object.required.clear();
            for (field, description) in UPDATE_FIELD_DESCRIPTIONS {
                if let Some(property) = object.properties.get_mut(*field) {
                    describe(property, *description);
                }
            }
        }
        schema
    }
}

impl ToSchema for UpdateTenantBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <TenantBody as ToSchema>::schemas(schemas);
    }
}

/// Gives a property the description of a change (`None`: no description), whichever
/// form the derive gave it (a reference, an inline type wrapped to carry the field's
/// own description, a plain schema).
fn describe(property: &mut RefOr<Schema>, description: Option<&str>) {
    let text = description.map(str::to_string);
    match property {
        RefOr::Ref(reference) => reference.description = text.unwrap_or_default(),
        RefOr::T(Schema::Object(object)) => object.description = text,
        RefOr::T(Schema::AllOf(all_of)) => all_of.description = text,
        RefOr::T(Schema::OneOf(one_of)) => one_of.description = text,
        RefOr::T(Schema::AnyOf(any_of)) => any_of.description = text,
        RefOr::T(_) => {}
    }
}

impl TenantBody {
    /// A create body as a new tenant: `nombre` required, `slug` made from it when not
    /// sent.
    pub fn parse_new(
        &self,
        cipher: &Cipher,
        targets: &TargetPolicy,
    ) -> Result<ValidNewTenant, RefusedTenant> {
        let mut errors = FieldErrors::default();
        if self.nombre.is_absent() {
            errors.add("nombre", Msg::Required);
        }
        let mut fields = self.parse(cipher, targets, &mut errors);
        let slug = match (fields.slug.take(), &fields.nombre) {
            (Some(slug), _) => Some(slug),
            (None, Some(nombre)) if self.slug.is_absent() => {
                let generated = TenantSlug::from_name(nombre).map(TenantSlug::into_inner);
                if generated.is_none() {
                    errors.add("slug", Msg::Required);
                }
                generated
            }
            _ => None,
        };
        match (slug, fields.nombre.take()) {
            (Some(slug), Some(nombre)) if errors.is_empty() => Ok(ValidNewTenant {
                slug,
                nombre,
                fields,
            }),
            (slug, _) => Err(RefusedTenant { errors, slug }),
        }
    }

    /// An update body as the columns it changes.
    pub fn parse_changes(
        &self,
        cipher: &Cipher,
        targets: &TargetPolicy,
    ) -> Result<TenantChanges, RefusedTenant> {
        let mut errors = FieldErrors::default();
        let changes = self.parse(cipher, targets, &mut errors);
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(RefusedTenant {
                errors,
                slug: changes.slug,
            })
        }
    }

    /// The columns this body sets. `errors` receives every problem found.
    fn parse(
        &self,
        cipher: &Cipher,
        targets: &TargetPolicy,
        errors: &mut FieldErrors,
    ) -> TenantChanges {
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
        let text = |raw: &str| Ok(raw.to_string());
        TenantChanges {
            slug: at_most_or(&self.slug, "slug", 64, Msg::SlugFormat, errors)
                .then(|| {
                    optional(&self.slug, "slug", errors, |raw| {
                        TenantSlug::parse(raw).map(TenantSlug::into_inner)
                    })
                })
                .flatten(),
            nombre: at_most(&self.nombre, "nombre", 255, errors)
                .then(|| optional(&self.nombre, "nombre", errors, text))
                .flatten(),
            tipo_cargo: at_most(&self.tipo_cargo, "tipo_cargo", 255, errors)
                .then(|| nullable_patch(&self.tipo_cargo, "tipo_cargo", errors, text))
                .flatten(),
            identificacion: at_most(&self.identificacion, "identificacion", 64, errors)
                .then(|| nullable_patch(&self.identificacion, "identificacion", errors, text))
                .flatten(),
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
                targets
                    .parse(raw, Target::Callback)
                    .map(HttpUrl::into_inner)
            }),
            callback_secret_encrypted: callback_secret(&self.callback_secret, cipher, errors),
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

/// A secret is taken exactly as sent, 16 to 255 characters (spaces count, as in a
/// password); `null` or blank clears it.
fn callback_secret(
    input: &Input,
    cipher: &Cipher,
    errors: &mut FieldErrors,
) -> Option<Option<String>> {
    let field = "callback_secret";
    let secret = match input {
        Input::Absent => return None,
        Input::Null => return Some(None),
        Input::Value(_) => input.exact_string(field, errors)?,
    };
    match secret.chars().count() {
        0..=15 => errors.add(field, Msg::MinLength(16)),
        16..=255 => return Some(Some(cipher.encrypt(&secret))),
        _ => errors.add(field, Msg::MaxLength(255)),
    }
    None
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
