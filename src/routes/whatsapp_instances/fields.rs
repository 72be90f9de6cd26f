//! Parsing shared by create, update and provision, and how a refusal is answered.

use crate::domain::{bounded_text, DailyLimit, HttpUrl};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};
use crate::input::{at_most, optional, Input};
use crate::lifecycle::LifecycleError;
use crate::registry::instances::Refusal;
use crate::targets::{Target, TargetPolicy};

pub const NOTES_MAX_CHARS: usize = 1000;
pub const API_KEY_MAX_CHARS: usize = 255;
pub const PRIORITY_MAX: i64 = 1_000_000;

pub fn evolution_api_key(raw: &str) -> Result<String, Msg> {
    bounded_text(raw, API_KEY_MAX_CHARS)
}

/// The `evolution_api_key` sent: at most [`API_KEY_MAX_CHARS`] characters as sent, and
/// "required" when `required` and it is absent or null.
pub fn evolution_api_key_field(
    input: &Input,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    const FIELD: &str = "evolution_api_key";
    if !at_most(input, FIELD, API_KEY_MAX_CHARS, errors) {
        return None;
    }
    if required {
        crate::input::required(input, FIELD, errors, evolution_api_key)
    } else {
        optional(input, FIELD, errors, evolution_api_key)
    }
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

/// How a refused registration or change is answered: a 422 listing every problem, or a
/// 409 when another tenant has the name on that server.
pub fn refused(refusal: Refusal, locale: Locale) -> ApiError {
    match refusal {
        Refusal::Invalid(errors) => errors.into_error(locale),
        Refusal::NameOwnedElsewhere(name) => LifecycleError::NameTaken(name).into(),
    }
}
