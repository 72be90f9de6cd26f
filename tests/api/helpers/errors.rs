//! How a test says "this request was refused": every error body is checked by the same
//! assertion, so that each one also checks the body's shape (SPEC §2 "Errors").

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::Value;

use super::Reply;

/// The fields an error body may have beside `message` and `error_key`.
const ERROR_EXTRAS: &[&str] = &["error_params"];

/// The key of every 422 that lists fields in `errors`.
const VALIDATION_FAILED: &str = "validation.failed";

/// The reply is the error `key` with `status`: a JSON object with a `message` in words, that
/// `error_key`, and at most `error_params` beside them (a 422 may name its fields in
/// `errors`, which a `validation.failed` must; [`assert_invalid`] also says which).
#[track_caller]
pub fn assert_error(reply: &Reply, status: StatusCode, key: &str) {
    assert_error_in(reply, status, key, "");
}

/// [`assert_error`] for one `case` of a table, which a failure names.
#[track_caller]
pub fn assert_error_in(reply: &Reply, status: StatusCode, key: &str, case: &str) {
    let at = label(case);
    assert_eq!(reply.status, status, "{at}{}", reply.body);
    assert_eq!(reply.body["error_key"], key, "{at}{}", reply.body);
    if key == VALIDATION_FAILED {
        assert_error_shape(reply, &["errors"], case);
        let errors = reply.body["errors"].as_object();
        assert!(
            errors.is_some_and(|errors| !errors.is_empty()),
            "{at}the fields in error: {}",
            reply.body
        );
    } else if status == StatusCode::UNPROCESSABLE_ENTITY {
        // A 422 of its own key (a recipient not on WhatsApp) names its field too.
        assert_error_shape(reply, &["error_params", "errors"], case);
    } else {
        assert_error_shape(reply, ERROR_EXTRAS, case);
    }
}

/// The reply is a 422 `validation.failed` whose `errors` name exactly `fields`, in this
/// order, each with at least one message.
#[track_caller]
pub fn assert_invalid(reply: &Reply, fields: &[&str]) {
    assert_invalid_in(reply, fields, "");
}

/// [`assert_invalid`] for one `case` of a table, which a failure names.
#[track_caller]
pub fn assert_invalid_in(reply: &Reply, fields: &[&str], case: &str) {
    assert_error_in(
        reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        VALIDATION_FAILED,
        case,
    );
    let at = label(case);
    let errors = reply.body["errors"]
        .as_object()
        .unwrap_or_else(|| panic!("{at}`errors` is not an object: {}", reply.body));
    let named: Vec<&str> = errors.keys().map(String::as_str).collect();
    assert_eq!(named, fields, "{at}the fields in error, in order");
    for (field, messages) in errors {
        let said = messages.as_array().is_some_and(|list| {
            !list.is_empty()
                && list
                    .iter()
                    .all(|m| m.as_str().is_some_and(|m| !m.is_empty()))
        });
        assert!(said, "{at}{field}: {messages}");
    }
}

/// A JSON object with a `message` in words, an `error_key`, and no other field but `extras`.
#[track_caller]
fn assert_error_shape(reply: &Reply, extras: &[&str], case: &str) {
    let at = label(case);
    let content_type = reply
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("<none>");
    assert!(
        content_type.starts_with("application/json"),
        "{at}content-type {content_type}"
    );
    let body = reply
        .body
        .as_object()
        .unwrap_or_else(|| panic!("{at}not a JSON object: {}", reply.body));
    let message = body.get("message").and_then(Value::as_str);
    assert!(
        message.is_some_and(|m| !m.trim().is_empty()),
        "{at}a message: {}",
        reply.body
    );
    let stray: Vec<&String> = body
        .keys()
        .filter(|key| !["message", "error_key"].contains(&key.as_str()))
        .filter(|key| !extras.contains(&key.as_str()))
        .collect();
    assert!(stray.is_empty(), "{at}fields {stray:?} in {}", reply.body);
}

/// How a failure names the case: `[case] `, or nothing outside a table.
fn label(case: &str) -> String {
    if case.is_empty() {
        String::new()
    } else {
        format!("[{case}] ")
    }
}
