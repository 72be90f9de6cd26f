//! Request fields as they arrive, before any type is trusted. Bodies deserialize into
//! structs of [`Input`] so that a wrong type is a 422 naming the field, never a 400.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{ApiError, FieldErrors};
use crate::i18n::{Locale, Msg};

/// One JSON field: missing, explicitly null, or present. Empty strings count as
/// null, as Laravel's ConvertEmptyStringsToNull does.
#[derive(Debug, Default, Clone)]
pub enum Input {
    #[default]
    Absent,
    Null,
    Value(Value),
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Input::Null,
            Value::String(s) if s.trim().is_empty() => Input::Null,
            value => Input::Value(value),
        })
    }
}

impl Input {
    pub fn is_absent(&self) -> bool {
        matches!(self, Input::Absent)
    }

    /// A present string, trimmed; absent or null is `None`.
    pub fn string(&self, field: &str, errors: &mut FieldErrors) -> Option<String> {
        match self {
            Input::Value(Value::String(s)) => Some(s.trim().to_string()),
            Input::Value(_) => {
                errors.add(field, Msg::NotString);
                None
            }
            _ => None,
        }
    }

    /// A present string exactly as sent, spaces included (passwords are never trimmed).
    pub fn exact_string(&self, field: &str, errors: &mut FieldErrors) -> Option<String> {
        match self {
            Input::Value(Value::String(s)) => Some(s.clone()),
            Input::Value(_) => {
                errors.add(field, Msg::NotString);
                None
            }
            _ => None,
        }
    }

    pub fn required_string(&self, field: &str, errors: &mut FieldErrors) -> Option<String> {
        if !matches!(self, Input::Value(_)) {
            errors.add(field, Msg::Required);
        }
        self.string(field, errors)
    }

    /// A whole number, also when sent as a numeric string.
    pub fn integer(&self, field: &str, errors: &mut FieldErrors) -> Option<i64> {
        let parsed = match self {
            Input::Absent | Input::Null => return None,
            Input::Value(Value::Number(n)) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            }),
            Input::Value(_) => None,
        };
        if parsed.is_none() {
            errors.add(field, Msg::NotInteger);
        }
        parsed
    }

    /// A JSON `true` or `false`: the document types these fields `boolean`, so `1` or
    /// `"true"` is refused rather than guessed at (query strings have their own parser).
    pub fn boolean(&self, field: &str, errors: &mut FieldErrors) -> Option<bool> {
        let parsed = match self {
            Input::Absent | Input::Null => return None,
            Input::Value(Value::Bool(b)) => Some(*b),
            Input::Value(_) => None,
        };
        if parsed.is_none() {
            errors.add(field, Msg::NotBoolean);
        }
        parsed
    }
}

/// Whether a string field was sent with at most `max` characters, whitespace around it
/// included: the document's `maxLength` counts every character sent, so the server does too
/// before it trims the text. A longer one gets the field's error. Anything else passes.
pub fn at_most(input: &Input, field: &str, max: usize, errors: &mut FieldErrors) -> bool {
    at_most_or(input, field, max, Msg::MaxLength(max), errors)
}

/// The longest `idempotency_key` a claim or a send accepts (SPEC §6).
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

/// An optional `idempotency_key` of a claim or a send: a string of at most
/// [`MAX_IDEMPOTENCY_KEY`] characters, taken exactly as sent.
pub fn idempotency_key(input: &Input, errors: &mut FieldErrors) -> Option<String> {
    const FIELD: &str = "idempotency_key";
    at_most(input, FIELD, MAX_IDEMPOTENCY_KEY, errors)
        .then(|| optional(input, FIELD, errors, |raw| Ok(raw.to_string())))
        .flatten()
}

/// As [`at_most`], for a field whose rule names its length in its own message.
pub fn at_most_or(
    input: &Input,
    field: &str,
    max: usize,
    too_long: Msg,
    errors: &mut FieldErrors,
) -> bool {
    match input {
        Input::Value(Value::String(sent)) if sent.chars().count() > max => {
            errors.add(field, too_long);
            false
        }
        _ => true,
    }
}

/// Parses an optional field with `parse` when present: `None` when absent or null.
pub fn optional<T>(
    input: &Input,
    field: &str,
    errors: &mut FieldErrors,
    parse: impl FnOnce(&str) -> Result<T, Msg>,
) -> Option<T> {
    let raw = input.string(field, errors)?;
    parse(&raw).map_err(|msg| errors.add(field, msg)).ok()
}

/// Parses a required field: absent or null is "required", anything else goes to `parse`.
pub fn required<T>(
    input: &Input,
    field: &str,
    errors: &mut FieldErrors,
    parse: impl FnOnce(&str) -> Result<T, Msg>,
) -> Option<T> {
    if !matches!(input, Input::Value(_)) {
        errors.add(field, Msg::Required);
        return None;
    }
    optional(input, field, errors, parse)
}

/// An update of a nullable text field: `None` leaves it, `Some(None)` clears it.
pub fn nullable_patch<T>(
    input: &Input,
    field: &str,
    errors: &mut FieldErrors,
    parse: impl FnOnce(&str) -> Result<T, Msg>,
) -> Option<Option<T>> {
    match input {
        Input::Absent => None,
        Input::Null => Some(None),
        Input::Value(_) => optional(input, field, errors, parse).map(Some),
    }
}

/// A JSON request body that must be an object. `web::Json` of a struct would also
/// accept an array, binding its items to the fields by position.
pub struct JsonObject<T>(pub T);

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let object =
            actix_web::web::Json::<serde_json::Map<String, Value>>::from_request(req, payload);
        let locale = Locale::of_request(req);
        Box::pin(async move {
            let object = object.await?.into_inner();
            refuse_nul(&object, locale)?;
            serde_json::from_value(Value::Object(object))
                .map(JsonObject)
                .map_err(|_| ApiError::malformed("The request body must be a JSON object.").into())
        })
    }
}

/// A 422 naming every field of `object` with a NUL character anywhere in it (its
/// value, nested values or keys): PostgreSQL cannot store one, and no field needs it.
pub fn refuse_nul(object: &serde_json::Map<String, Value>, locale: Locale) -> Result<(), ApiError> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    let mut errors = FieldErrors::default();
    for (field, value) in object {
        if field.contains('\0') || has_nul(value) {
            errors.add(field, Msg::NulCharacter);
        }
    }
    errors.into_result(locale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> Input {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn wrong_types_are_field_errors() {
        let mut errors = FieldErrors::default();
        assert_eq!(input("[1]").string("a", &mut errors), None);
        assert_eq!(input("\"x\"").integer("b", &mut errors), None);
        assert_eq!(input("\"maybe\"").boolean("c", &mut errors), None);
        assert!(errors.has("a") && errors.has("b") && errors.has("c"));
    }

    #[test]
    fn body_types_are_json_types() {
        let mut errors = FieldErrors::default();
        assert_eq!(input("1500.0").integer("a", &mut errors), Some(1500));
        assert!(errors.is_empty());
        assert_eq!(input("\"1500\"").integer("a", &mut errors), None);
        assert_eq!(input("\"1\"").boolean("b", &mut errors), None);
        assert_eq!(input("1").boolean("c", &mut errors), None);
        assert!(errors.has("a") && errors.has("b") && errors.has("c"));
    }

    #[test]
    fn a_nul_anywhere_in_a_field_names_that_field() {
        let object: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"ok": "fine", "name": "a\u0000b", "events": ["X", "Y\u0000"], "headers": {"k\u0000": "v"}}"#,
        )
        .unwrap();
        let error = refuse_nul(&object, Locale::En).unwrap_err();
        let body = serde_json::to_value(error.body()).unwrap();
        let fields: Vec<&String> = body["errors"].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["name", "events", "headers"]);
    }

    #[test]
    fn lengths_count_what_was_sent() {
        let mut errors = FieldErrors::default();
        assert!(at_most(&input("\"  abc  \""), "a", 7, &mut errors));
        assert!(!at_most(&input("\"  abc  \""), "b", 6, &mut errors));
        assert!(at_most(&input("\"ñandú\""), "c", 5, &mut errors));
        assert!(at_most(&input("12345678"), "d", 1, &mut errors));
        assert!(!errors.has("a") && errors.has("b") && !errors.has("c") && !errors.has("d"));
    }

    #[test]
    fn empty_string_is_null_and_fails_required() {
        let mut errors = FieldErrors::default();
        assert!(matches!(input("\"  \""), Input::Null));
        assert_eq!(input("\"\"").required_string("name", &mut errors), None);
        assert!(errors.has("name"));
    }
}
