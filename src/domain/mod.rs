//! Parse-don't-validate types: a value of one of these is known to be valid.
//! Each `parse` returns the message to show for its field when it is not.

use std::fmt;
use std::sync::LazyLock;

use chrono::NaiveDate;
use chrono_tz::Tz;
use regex::Regex;
use url::Url;

use crate::i18n::Msg;

/// Gives a fieldless enum, its variants listed with their wire names, `ALL` (every value,
/// in this order), `NAMES` (their wire names, in the same order), `as_str`, `parse`
/// (other text is refused with `Msg::OneOf(NAMES)`) and `Display` (the wire name). The
/// names are the enum's serde names too; each enum's tests hold the two together.
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order of its wire names.
            pub const ALL: [$ty; [$($name),+].len()] = [$(Self::$variant),+];
            /// The wire names of [`ALL`](Self::ALL), in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }

            /// A value by its wire name.
            pub fn parse(raw: &str) -> Result<Self, crate::i18n::Msg> {
                match raw {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(crate::i18n::Msg::OneOf(Self::NAMES)),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod connection_status;
mod delivery_status;
mod message_status;
mod phone;
mod timestamp;
pub use connection_status::ConnectionStatus;
pub use delivery_status::DeliveryStatus;
pub use message_status::MessageStatus;
pub use phone::{OptionalPhoneNumber, PhoneNumber};
pub use timestamp::Timestamp;

// Number health (SPEC §6b): the pure rules, each with its SQL rendering where a statement
// must compute the same.
pub mod health;
pub mod pacing;
pub mod quarantine;
pub mod quiet_hours;
pub mod warmup;

/// The characters `str::trim` drops (Unicode's `White_Space`, which `char::is_whitespace`
/// tells), as the inside of a regex character class that every engine reads alike:
/// ECMA-262 with or without `u`, Python's `re`, Rust's `regex`, Java's.
pub const WHITESPACE_CHARS: &str =
    r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// One character of [`WHITESPACE_CHARS`].
pub const WHITESPACE: &str =
    r"[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// `pattern` (anchored: `^…$`) for a string that is trimmed before it is read: whitespace
/// may surround what it admits. What it admits must neither start nor end with
/// whitespace, so that the result matches in one way only.
pub fn padded(pattern: &str) -> String {
    format!("^{WHITESPACE}*(?:{}){WHITESPACE}*$", unanchored(pattern))
}

/// As [`padded`], or whitespace only: a blank string, which counts as `null`.
pub fn padded_or_blank(pattern: &str) -> String {
    format!(
        "^{WHITESPACE}*(?:(?:{}){WHITESPACE}*)?$",
        unanchored(pattern)
    )
}

/// A string with something besides whitespace in it.
pub fn not_blank() -> String {
    format!("^{WHITESPACE}*[^{WHITESPACE_CHARS}][\\s\\S]*$")
}

/// What an anchored pattern admits, without its anchors (a test checks every pattern the
/// document states is anchored at both ends).
fn unanchored(pattern: &str) -> &str {
    let pattern = pattern.strip_prefix('^').unwrap_or(pattern);
    pattern.strip_suffix('$').unwrap_or(pattern)
}

/// `^[A-Za-z0-9_-]{1,50}$`: the name Evolution API knows the instance by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceName(String);

impl InstanceName {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let valid = (1..=50).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(Msg::InstanceNameFormat)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Messages an instance may send per local day: 1..=100000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyLimit(i32);

impl DailyLimit {
    pub const MAX: i64 = 100_000;

    pub fn parse(raw: i64) -> Result<Self, Msg> {
        match raw {
            i64::MIN..=0 => Err(Msg::DailyLimitMin),
            1..=Self::MAX => Ok(Self(raw as i32)),
            _ => Err(Msg::DailyLimitMax),
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// An http(s) URL without a trailing slash, as Evolution base URLs are written. It
/// carries no user name or password: a URL is shown in answers and logs, so a
/// credential in it would not stay secret (keys have their own write-only fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// The URLs taken, as the document states them (every field that takes one repeats
    /// this pattern; a test checks they agree): `http` or `https`; a host name whose
    /// last label starts with a letter, or a dotted IPv4 address; a port up to 65535;
    /// then path, query and fragment in RFC 3986's characters (anything else
    /// percent-encoded). So every URL the pattern admits is an RFC 3986 `uri`, and
    /// the WHATWG parser reads it without changing what it names. A host label
    /// starting with `xn--` must also be valid punycode.
    pub const PATTERN: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?)(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?(\?(([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})|\?)*)?(#(([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})|\?)*)?$";

    pub fn parse(raw: &str) -> Result<Self, Msg> {
        #[allow(
            clippy::expect_used,
            reason = "a constant pattern, compiled by the unit tests"
        )]
        static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(HttpUrl::PATTERN).expect("HttpUrl::PATTERN is a valid regex")
        });
        if !PATTERN.is_match(raw) {
            // Still a credential in a URL is named as such.
            return match Url::parse(raw) {
                Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                    Err(Msg::UrlCredentials)
                }
                _ => Err(Msg::Url),
            };
        }
        match Url::parse(raw) {
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                Err(Msg::UrlCredentials)
            }
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Ok(Self(url.as_str().trim_end_matches('/').to_string()))
            }
            _ => Err(Msg::Url),
        }
    }

    /// Whether both URLs reach the same server: scheme, host and port. A key stored for
    /// one origin is only ever sent to that origin.
    pub fn same_origin(a: &str, b: &str) -> bool {
        match (Url::parse(a), Url::parse(b)) {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        }
    }

    /// Whether a key stored for the server at `from` would go to another origin if the
    /// URL became `to` (`None`: no server; from none to one, or back, is a move too).
    pub fn moves_origin(from: Option<&str>, to: Option<&str>) -> bool {
        match (from, to) {
            (Some(from), Some(to)) => !Self::same_origin(from, to),
            (None, None) => false,
            _ => true,
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What every field that takes a URL admits (written inline: `value_type = HttpUrl,
/// inline`, the field describing itself).
impl utoipa::PartialSchema for HttpUrl {
    // `example`, as the fields' own examples are written: generators read it for samples.
    #[allow(deprecated)]
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(padded(Self::PATTERN)))
            .example(Some(serde_json::json!("https://evolution.midominio.com")))
            .into()
    }
}

impl utoipa::ToSchema for HttpUrl {}

/// An [`HttpUrl`], or none: `null` or a blank string.
pub struct OptionalHttpUrl;

impl utoipa::PartialSchema for OptionalHttpUrl {
    // `example`, as the fields' own examples are written: generators read it for samples.
    #[allow(deprecated)]
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{SchemaType, Type};
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .pattern(Some(padded_or_blank(HttpUrl::PATTERN)))
            .example(Some(serde_json::json!("https://evolution.midominio.com")))
            .into()
    }
}

impl utoipa::ToSchema for OptionalHttpUrl {}

/// A price per message in the tenant's currency: an exact decimal from 0 to 1 000 000
/// with at most 4 decimals, stored as whole millionths (micro-units) of the currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitPrice(rust_decimal::Decimal);

impl UnitPrice {
    pub const MAX: i64 = 1_000_000;
    pub const MAX_DECIMALS: u32 = 4;

    /// A number as written in JSON or in a string: `200`, `0.1234`, `1e3`.
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        use rust_decimal::Decimal;
        let approximate: f64 = raw.parse().map_err(|_| Msg::NotNumber)?;
        if !approximate.is_finite() {
            return Err(Msg::NotNumber);
        }
        let out_of_range = Msg::Between(0, Self::MAX);
        if !(0.0..=Self::MAX as f64).contains(&approximate) {
            return Err(out_of_range);
        }
        // A finite number in range that no exact decimal of at most 28 decimals holds
        // (`1.17e-141`, 30 decimals) has far more than 4 decimals; `from_str` would round it.
        let exact = Decimal::from_str_exact(raw)
            .or_else(|_| Decimal::from_scientific(raw))
            .map_err(|_| Msg::MaxDecimals(Self::MAX_DECIMALS))?
            .normalize();
        if exact.is_sign_negative() && !exact.is_zero() || exact > Decimal::from(Self::MAX) {
            return Err(out_of_range);
        }
        if exact.scale() > Self::MAX_DECIMALS {
            return Err(Msg::MaxDecimals(Self::MAX_DECIMALS));
        }
        Ok(Self(exact.abs()))
    }

    pub fn from_micros(micros: i64) -> Self {
        Self(rust_decimal::Decimal::new(micros, 6).normalize())
    }

    /// Exact: at most 4 decimals and 1 000 000 make at most 10^12 millionths.
    #[allow(
        clippy::expect_used,
        reason = "a parsed price is at most 10^6 with 4 decimals: at most 10^12 millionths"
    )]
    pub fn micros(self) -> i64 {
        use rust_decimal::prelude::ToPrimitive;
        (self.0 * rust_decimal::Decimal::from(1_000_000))
            .to_i64()
            .expect("a bounded price fits in i64 millionths")
    }
}

/// Free text with a maximum length in characters.
pub fn bounded_text(raw: &str, max_chars: usize) -> Result<String, Msg> {
    if raw.chars().count() > max_chars {
        Err(Msg::MaxLength(max_chars))
    } else {
        Ok(raw.to_string())
    }
}

/// `[a-z0-9-]`, 1 to 64 characters, not starting or ending with a dash, and not all
/// digits (a numeric path segment means a tenant id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let valid = (1..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.chars().all(|c| c.is_ascii_digit());
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(Msg::SlugFormat)
        }
    }

    /// A slug made from a display name: "Juan Pérez - Alcaldía" → "juan-perez-alcaldia".
    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars().flat_map(fold_accent) {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug: String = slug.trim_end_matches('-').chars().take(64).collect();
        Self::parse(slug.trim_end_matches('-')).ok()
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

fn fold_accent(c: char) -> Option<char> {
    Some(match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ñ' | 'Ñ' => 'n',
        'ç' | 'Ç' => 'c',
        other => other,
    })
}

pub fn parse_timezone(raw: &str) -> Result<Tz, Msg> {
    raw.parse().map_err(|_| Msg::Timezone)
}

/// How the sender picks the next instance of a tenant: `round_robin` (least recently
/// used first), `least_used` (fewest sent today), `most_remaining` (most quota left) or
/// `priority` (lowest `priority` value first, fill-first).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RotationStrategy {
    RoundRobin,
    LeastUsed,
    MostRemaining,
    Priority,
}

impl RotationStrategy {
    pub const ALL: [Self; 4] = [
        Self::RoundRobin,
        Self::LeastUsed,
        Self::MostRemaining,
        Self::Priority,
    ];
    pub const NAMES: &'static [&'static str] =
        &["round_robin", "least_used", "most_remaining", "priority"];

    pub fn parse(raw: &str) -> Result<Self, Msg> {
        match raw {
            "round_robin" => Ok(Self::RoundRobin),
            "least_used" => Ok(Self::LeastUsed),
            "most_remaining" => Ok(Self::MostRemaining),
            "priority" => Ok(Self::Priority),
            _ => Err(Msg::OneOf(Self::NAMES)),
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A lower-cased email address of a plausible shape; delivery is never attempted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// An address RFC 5322 accepts (checked by the `email_address` crate) whose domain
    /// has a dot, lowercased; surrounding spaces are dropped.
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let email = raw.trim().to_lowercase();
        let parsed = email_address::EmailAddress::parse_with_options(
            &email,
            email_address::Options::default()
                .without_display_text()
                .without_domain_literal(),
        )
        .map_err(|_| Msg::Email)?;
        let domain = parsed.domain();
        if email.len() > 254 || !domain.contains('.') || domain.ends_with('.') {
            return Err(Msg::Email);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8 to 128 characters, taken exactly as sent, that zxcvbn rates at
/// least 3 of 4 ("safely unguessable"), also against the user's own email.
pub fn parse_password(raw: &str, email: Option<&Email>) -> Result<String, Msg> {
    match raw.chars().count() {
        0..=7 => return Err(Msg::MinLength(8)),
        8..=128 => {}
        _ => return Err(Msg::MaxLength(128)),
    }
    let user_inputs: Vec<&str> = email
        .map(|email| {
            let address = email.as_str();
            let local = address.split('@').next().unwrap_or(address);
            [address, local]
                .into_iter()
                .chain(address.split(['@', '.']))
                .collect()
        })
        .unwrap_or_default();
    if zxcvbn::zxcvbn(raw, &user_inputs).score() < zxcvbn::Score::Three {
        return Err(Msg::WeakPassword);
    }
    Ok(raw.to_string())
}

/// What a user may do: `super_admin` everything, `tenant_user` read its own tenant.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    TenantUser,
}

impl Role {
    pub const NAMES: &'static [&'static str] = &["super_admin", "tenant_user"];

    pub fn parse(raw: &str) -> Result<Self, Msg> {
        match raw {
            "super_admin" => Ok(Role::SuperAdmin),
            "tenant_user" => Ok(Role::TenantUser),
            _ => Err(Msg::OneOf(Self::NAMES)),
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An instance's counter seen from its tenant's local date. The stored counter belongs
/// to the stored date; once that date is past, the day starts at 0 without anything
/// being written (seed 001: "reseteo automático 00:00").
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DailyUsage {
    pub date: NaiveDate,
    pub sent: i32,
    pub limit: i32,
}

impl DailyUsage {
    pub fn new(counted_on: NaiveDate, counted: i32, limit: i32, today: NaiveDate) -> Self {
        // A stored date ahead of today (the tenant's time zone moved west) still owns
        // its count, so changing the zone can never hand out a day's quota twice.
        let current = counted_on >= today;
        Self {
            date: counted_on.max(today),
            sent: if current { counted } else { 0 },
            limit,
        }
    }

    pub fn remaining(&self) -> i32 {
        (self.limit - self.sent).max(0)
    }

    /// How many of `requested` messages this instance may still take today.
    pub fn grant(&self, requested: i32) -> i32 {
        requested.clamp(0, self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_what_trim_drops() {
        let class = Regex::new(&format!("^{WHITESPACE}$")).unwrap();
        assert_eq!(WHITESPACE, format!("[{WHITESPACE_CHARS}]"));
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let text = c.to_string();
            assert_eq!(class.is_match(&text), text.trim().is_empty(), "{c:?}");
        }
    }

    #[test]
    fn instance_names_follow_the_evolution_pattern() {
        assert!(InstanceName::parse("principal_campana").is_ok());
        assert!(InstanceName::parse("tenant-5-abc123").is_ok());
        for bad in ["", "con espacio", "ñandú", &"x".repeat(51), "a/b"] {
            assert_eq!(
                InstanceName::parse(bad),
                Err(Msg::InstanceNameFormat),
                "{bad}"
            );
        }
    }

    #[test]
    fn unit_prices_are_exact_and_bounded() {
        for (raw, micros) in [
            ("200", 200_000_000),
            ("0.1234", 123_400),
            ("0.3", 300_000),
            ("1e3", 1_000_000_000),
            ("1000000", 1_000_000_000_000),
            ("0", 0),
            ("-0", 0),
        ] {
            assert_eq!(
                UnitPrice::parse(raw).map(UnitPrice::micros),
                Ok(micros),
                "{raw}"
            );
        }
        assert_eq!(
            UnitPrice::from_micros(123_400),
            UnitPrice::parse("0.1234").unwrap()
        );
        for raw in ["1e308", "1000000.0001", "-0.01", "-1"] {
            assert_eq!(
                UnitPrice::parse(raw),
                Err(Msg::Between(0, 1_000_000)),
                "{raw}"
            );
        }
        for raw in [
            "0.12345",
            "1.1733009457258434e-141",
            "0.00000000000000000000000000001",
        ] {
            assert_eq!(UnitPrice::parse(raw), Err(Msg::MaxDecimals(4)), "{raw}");
        }
        assert_eq!(
            UnitPrice::parse("0.30000000000000004"),
            Err(Msg::MaxDecimals(4))
        );
        for raw in ["abc", "NaN", "inf", ""] {
            assert_eq!(UnitPrice::parse(raw), Err(Msg::NotNumber), "{raw}");
        }
    }

    #[test]
    fn daily_limit_bounds() {
        assert_eq!(DailyLimit::parse(0), Err(Msg::DailyLimitMin));
        assert_eq!(DailyLimit::parse(-5), Err(Msg::DailyLimitMin));
        assert_eq!(DailyLimit::parse(1).unwrap().get(), 1);
        assert_eq!(DailyLimit::parse(100_000).unwrap().get(), 100_000);
        assert_eq!(DailyLimit::parse(100_001), Err(Msg::DailyLimitMax));
    }

    #[test]
    fn slugs() {
        assert_eq!(
            TenantSlug::from_name("Juan Pérez - Alcaldía")
                .unwrap()
                .into_inner(),
            "juan-perez-alcaldia"
        );
        assert!(TenantSlug::parse("candidato-alcaldia").is_ok());
        for bad in ["Upper", "-lead", "trail-", "12345", "a_b", ""] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad}");
        }
        assert!(TenantSlug::from_name("¡¡¡").is_none());
    }

    #[test]
    fn urls_emails_and_strategies() {
        assert_eq!(
            HttpUrl::parse("https://evo.example.com/")
                .unwrap()
                .into_inner(),
            "https://evo.example.com"
        );
        assert!(HttpUrl::parse("ftp://evo.example.com").is_err());
        for with_credentials in [
            "https://user:pass@evo.example.com",
            "https://user@evo.example.com",
            "https://:pass@evo.example.com",
        ] {
            assert_eq!(HttpUrl::parse(with_credentials), Err(Msg::UrlCredentials));
        }
        assert!(HttpUrl::same_origin(
            "https://evo.example.com/a",
            "https://evo.example.com:443/b"
        ));
        assert!(!HttpUrl::same_origin(
            "https://evo.example.com",
            "http://evo.example.com"
        ));
        assert!(!HttpUrl::same_origin(
            "https://evo.example.com",
            "https://evo.example.com:8443"
        ));
        assert!(!HttpUrl::same_origin(
            "https://evo.example.com",
            "https://other.example.com"
        ));
        assert!(HttpUrl::parse("not a url").is_err());
        assert!(!HttpUrl::moves_origin(
            Some("https://evo.example.com"),
            Some("https://evo.example.com/evolution")
        ));
        assert!(HttpUrl::moves_origin(
            Some("https://evo.example.com"),
            Some("https://evil.example.net")
        ));
        assert!(HttpUrl::moves_origin(None, Some("https://evo.example.com")));
        assert!(HttpUrl::moves_origin(Some("https://evo.example.com"), None));
        assert!(!HttpUrl::moves_origin(None, None));
        assert_eq!(
            Email::parse(" Admin@Example.COM ").unwrap().as_str(),
            "admin@example.com"
        );
        for bad in [
            "no-at-sign",
            "two@@example.com",
            "a b@example.com",
            "ana@localhost",
            "ana@example.com.",
            "\"Ana\" <ana@example.com>",
            "ana@[10.0.0.1]",
            "ana.@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RotationStrategy::parse("priority").unwrap().as_str(),
            "priority"
        );
        assert!(RotationStrategy::parse("random").is_err());
        assert_eq!(Role::TenantUser.as_str(), "tenant_user");
    }

    #[test]
    fn passwords_are_kept_exactly_and_weak_ones_refused() {
        let email = Email::parse("ana.maria@relevo.test").unwrap();
        assert_eq!(
            parse_password("  Correct horse battery staple  ", Some(&email)).unwrap(),
            "  Correct horse battery staple  "
        );
        for weak in [
            "password",
            "12345678",
            "qwertyuiop",
            "password123",
            "ana.maria2024",
        ] {
            assert_eq!(
                parse_password(weak, Some(&email)),
                Err(Msg::WeakPassword),
                "{weak}"
            );
        }
        assert_eq!(parse_password("short", None), Err(Msg::MinLength(8)));
        assert_eq!(
            parse_password(&"x".repeat(129), None),
            Err(Msg::MaxLength(128))
        );
    }

    #[test]
    fn yesterdays_count_reads_as_zero_today() {
        let date = |raw: &str| raw.parse::<NaiveDate>().unwrap();
        let today = date("2025-11-18");
        let usage = DailyUsage::new(date("2025-11-17"), 245, 1000, today);
        assert_eq!(
            (usage.sent, usage.remaining(), usage.date),
            (0, 1000, today)
        );
        let usage = DailyUsage::new(today, 245, 1000, today);
        assert_eq!(
            (usage.sent, usage.remaining(), usage.grant(900)),
            (245, 755, 755)
        );
        let ahead = DailyUsage::new(date("2025-11-19"), 10, 12, today);
        assert_eq!((ahead.date, ahead.grant(5)), (date("2025-11-19"), 2));
    }
}
