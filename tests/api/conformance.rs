//! Every reply a test receives through [`TestApp::send`](crate::helpers::TestApp::send) is
//! checked against the OpenAPI document Relevo serves: its status must be one the
//! operation documents, and its body must match that response's schema exactly. A field
//! the document does not name, a missing required field, a null where the document does
//! not allow one, a value outside an `enum`, a wrong type or format all fail the test.
//! So the whole suite is also a proof that generated clients can trust the document.
//! (`RELEVO_CONFORMANCE=0` turns the check off, to see a test's own assertions first.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use regex::Regex;
use reqwest::Method;
use serde_json::Value;

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_json::from_str(&relevo::openapi::pretty_json()).expect("the document is JSON")
    })
}

/// Panics with every mismatch when the reply does not match the document.
pub fn assert_documented(method: &Method, path: &str, status: u16, body: &Value) {
    if let Err(problems) = check(method, path, status, body) {
        panic!(
            "{method} {path} answered {status}, which the OpenAPI document does not describe:\n  {}\nbody: {body}",
            problems.join("\n  ")
        );
    }
}

pub fn check(method: &Method, path: &str, status: u16, body: &Value) -> Result<(), Vec<String>> {
    let path = path.split('?').next().unwrap_or_default();
    let Some(operation) = operation(method, path) else {
        // Not an operation (an unknown route, a method the path does not take, the docs).
        return Ok(());
    };
    let responses = &operation["responses"];
    let Some(response) = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
    else {
        return Err(vec![format!("status {status} is not documented")]);
    };
    let response = resolve(response);
    let schema = &response["content"]["application/json"]["schema"];
    let mut problems = Vec::new();
    if schema.is_null() {
        if !body.is_null() {
            problems.push("a body where the document describes none".to_string());
        }
    } else {
        validate(schema, body, "body", &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The operation whose template matches `path`, preferring literal segments over
/// parameters, as the router does.
fn operation(method: &Method, path: &str) -> Option<&'static Value> {
    let segments: Vec<&str> = path.split('/').collect();
    let method = method.as_str().to_ascii_lowercase();
    let mut best: Option<(usize, &Value)> = None;
    for (template, item) in document()["paths"].as_object()? {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literals = 0;
        let matches = parts.iter().zip(&segments).all(|(part, segment)| {
            if part.starts_with('{') {
                !segment.is_empty()
            } else {
                literals += 1;
                part == segment
            }
        });
        if matches && best.is_none_or(|(most, _)| literals > most) {
            best = Some((literals, item));
        }
    }
    best.and_then(|(_, item)| item.get(&method))
}

/// Follows `$ref`s to components.
fn resolve(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                document()
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {reference}")),
            )
        }
        None => value,
    }
}

/// The properties and required names of an object schema, through `$ref` and `allOf`.
#[derive(Default)]
struct ObjectShape {
    properties: BTreeMap<String, &'static Value>,
    required: BTreeSet<String>,
    additional: Option<&'static Value>,
    is_object: bool,
}

fn object_shape(schema: &'static Value, shape: &mut ObjectShape) {
    let schema = resolve(schema);
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            object_shape(part, shape);
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        shape.is_object = true;
        for (name, property) in properties {
            shape.properties.insert(name.clone(), property);
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        shape
            .required
            .extend(required.iter().filter_map(Value::as_str).map(String::from));
    }
    if let Some(additional) = schema.get("additionalProperties") {
        shape.is_object = true;
        shape.additional = Some(additional);
    }
    if types(schema).contains(&"object") {
        shape.is_object = true;
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn validate(schema: &'static Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema.get(key).and_then(Value::as_array) {
            let fits = alternatives.iter().any(|alternative| {
                let mut inner = Vec::new();
                validate(alternative, value, at, &mut inner);
                inner.is_empty()
            });
            if !fits {
                problems.push(format!("{at}: {value} fits none of the {key} alternatives"));
            }
            return;
        }
    }
    let declared = types(schema);
    if !declared.is_empty() && !declared.iter().any(|kind| is_kind(value, kind)) {
        problems.push(format!("{at}: {value} is not {}", declared.join(" or ")));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    match value {
        Value::Object(fields) => validate_object(schema, fields, at, problems),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item_schema, item, &format!("{at}[{i}]"), problems);
                }
            }
        }
        Value::String(text) => validate_string(schema, text, at, problems),
        Value::Number(number) => {
            let number = number.as_f64().unwrap_or_default();
            if schema["minimum"].as_f64().is_some_and(|min| number < min) {
                problems.push(format!("{at}: {number} is below the minimum"));
            }
            if schema["maximum"].as_f64().is_some_and(|max| number > max) {
                problems.push(format!("{at}: {number} is above the maximum"));
            }
        }
        _ => {}
    }
}

fn is_kind(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn validate_object(
    schema: &'static Value,
    fields: &serde_json::Map<String, Value>,
    at: &str,
    problems: &mut Vec<String>,
) {
    let mut shape = ObjectShape::default();
    object_shape(schema, &mut shape);
    if !shape.is_object {
        return;
    }
    for name in &shape.required {
        if !fields.contains_key(name) {
            problems.push(format!("{at}.{name}: required but missing"));
        }
    }
    let open_object = shape.properties.is_empty() && shape.additional.is_none();
    for (name, value) in fields {
        let at = format!("{at}.{name}");
        match (shape.properties.get(name), shape.additional) {
            (Some(property), _) => validate(property, value, &at, problems),
            (None, Some(Value::Bool(false))) => {
                problems.push(format!("{at}: not allowed by the document"))
            }
            (None, Some(Value::Bool(true))) => {}
            (None, Some(additional)) => validate(additional, value, &at, problems),
            (None, None) if open_object => {}
            (None, None) => problems.push(format!("{at}: a field the document does not name")),
        }
    }
}

fn validate_string(schema: &Value, text: &str, at: &str, problems: &mut Vec<String>) {
    let length = text.chars().count() as u64;
    if schema["minLength"].as_u64().is_some_and(|min| length < min) {
        problems.push(format!("{at}: {text:?} is shorter than minLength"));
    }
    if schema["maxLength"].as_u64().is_some_and(|max| length > max) {
        problems.push(format!("{at}: {text:?} is longer than maxLength"));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let regex = Regex::new(pattern).unwrap_or_else(|e| panic!("bad pattern {pattern}: {e}"));
        if !regex.is_match(text) {
            problems.push(format!("{at}: {text:?} does not match {pattern}"));
        }
    }
    let well_formed = match schema["format"].as_str() {
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        Some("email") => text.contains('@'),
        Some("uri") => url::Url::parse(text).is_ok(),
        _ => true,
    };
    if !well_formed {
        problems.push(format!("{at}: {text:?} is not a {}", schema["format"]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_undocumented_field_or_status_fails() {
        let ok = json!({"status": "ok"});
        assert!(check(&Method::GET, "/health", 200, &ok).is_ok());
        let extra = json!({"status": "ok", "version": 1});
        assert!(check(&Method::GET, "/health", 200, &extra).is_err());
        assert!(check(&Method::GET, "/health", 418, &ok).is_err());
        assert!(check(&Method::GET, "/health", 200, &json!({})).is_err());
        assert!(check(&Method::GET, "/health", 200, &json!({"status": null})).is_err());
    }

    #[test]
    fn unknown_routes_and_methods_are_not_operations() {
        assert!(check(&Method::GET, "/nowhere", 404, &json!({})).is_ok());
        assert!(check(&Method::DELETE, "/health", 405, &json!({})).is_ok());
    }
}
