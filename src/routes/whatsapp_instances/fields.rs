//! Parsing and uniqueness rules shared by create and update.

use crate::db::instances;
use crate::db::{unique_violation, DbConnection, UniqueViolation};
use crate::domain::{bounded_text, DailyLimit, HttpUrl};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::Input;
use crate::targets::{Target, TargetPolicy};

pub const NOTES_MAX_CHARS: usize = 1000;
pub const API_KEY_MAX_CHARS: usize = 255;
pub const PRIORITY_MAX: i64 = 1_000_000;

pub fn evolution_api_key(raw: &str) -> Result<String, Msg> {
    bounded_text(raw, API_KEY_MAX_CHARS)
}

/// An Evolution server's URL, on an address the policy admits.
pub fn evolution_api_url(targets: &TargetPolicy, raw: &str) -> Result<String, Msg> {
    targets
        .parse(raw, Target::Evolution)
        .map(HttpUrl::into_inner)
}

pub fn daily_message_limit(input: &Input, errors: &mut FieldErrors) -> Option<DailyLimit> {
    let raw = input.integer("daily_message_limit", errors)?;
    DailyLimit::parse(raw)
        .map_err(|msg| errors.add("daily_message_limit", msg))
        .ok()
}

pub fn notes(raw: &str) -> Result<String, Msg> {
    bounded_text(raw, NOTES_MAX_CHARS)
}

pub fn priority(input: &Input, errors: &mut FieldErrors) -> Option<i32> {
    let raw = input.integer("priority", errors)?;
    if (0..=PRIORITY_MAX).contains(&raw) {
        Some(raw as i32)
    } else {
        errors.add("priority", Msg::Between(0, PRIORITY_MAX));
        None
    }
}

/// Adds "already registered" errors for a phone number used in the tenant or a name
/// used by the same tenant on the same server; a name another tenant owns on that
/// server is a 409, since it is not this tenant's to fix.
pub fn check_unique(
    conn: &mut DbConnection,
    tenant_id: i64,
    phone: Option<&str>,
    name_on_server: Option<(&str, Option<i64>)>,
    except_id: Option<i64>,
    errors: &mut FieldErrors,
) -> Result<(), ApiError> {
    if let Some(phone) = phone {
        if instances::phone_taken(conn, tenant_id, phone, except_id)? {
            errors.add("phone_number", Msg::PhoneTaken);
        }
    }
    if let Some((name, server)) = name_on_server {
        match instances::name_owner(conn, name, server, except_id)? {
            Some(owner) if owner != tenant_id => return Err(name_owned_elsewhere(name)),
            Some(_) => errors.add("instance_name", Msg::InstanceNameTaken),
            None => {}
        }
    }
    Ok(())
}

pub fn name_owned_elsewhere(name: &str) -> ApiError {
    crate::lifecycle::LifecycleError::NameTaken(name.to_string()).into()
}

/// A write that lost a race against a concurrent one with the same phone or name.
pub fn from_write_error(error: diesel::result::Error, locale: Locale) -> ApiError {
    match unique_violation(&error) {
        Some(UniqueViolation::Phone) => FieldErrors::one("phone_number", Msg::PhoneTaken, locale),
        Some(UniqueViolation::InstanceName) => {
            FieldErrors::one("instance_name", Msg::InstanceNameTaken, locale)
        }
        _ => error.into(),
    }
}
