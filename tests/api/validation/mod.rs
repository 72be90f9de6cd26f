//! Bad input is a 422 naming every failing field (Laravel style), never a 400 and never a
//! partial write. Each table row is one request and the exact `errors` map it must produce.
//! One file per resource; this one holds the messages they expect and how they ask.

mod instance_uniqueness;
mod instance_updates;
mod instances;
mod languages;
mod list_queries;
mod tenants;
mod urls;
mod users;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    assert_invalid_in, instances_path, into_reply, valid_instance, Reply, TestApp,
};

// ---------------------------------------------------------------------------------------
// Messages, exactly as src/i18n.rs renders them (Spanish is the default locale).
// ---------------------------------------------------------------------------------------

const PHONE_FORMAT: &str =
    "El número de teléfono debe estar en formato internacional (ej: +573001234567)";
const PHONE_TAKEN: &str = "Este número de teléfono ya está registrado para este tenant";
const NAME_FORMAT: &str =
    "El nombre de instancia solo puede contener letras, números, guiones y guiones bajos (máximo 50 caracteres)";
const NAME_TAKEN: &str = "Este nombre de instancia ya está registrado en este servidor";
const LIMIT_MIN: &str = "El límite diario debe ser al menos 1";
const LIMIT_MAX: &str = "El límite diario no puede ser mayor que 100000";

fn required(field: &str) -> String {
    format!("El campo {field} es obligatorio.")
}

fn not_string(field: &str) -> String {
    format!("El campo {field} debe ser una cadena de texto.")
}

fn not_integer(field: &str) -> String {
    format!("El campo {field} debe ser un número entero.")
}

fn not_boolean(field: &str) -> String {
    format!("El campo {field} debe ser verdadero o falso.")
}

fn max_length(field: &str, n: usize) -> String {
    format!("El campo {field} no debe tener más de {n} caracteres.")
}

fn not_url(field: &str) -> String {
    format!("El campo {field} debe ser una URL http(s) válida.")
}

fn between(field: &str, a: i64, b: i64) -> String {
    format!("El campo {field} debe estar entre {a} y {b}.")
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `base` with the fields of `overrides` set (a JSON `null` stays an explicit null).
fn with(base: Value, overrides: Value) -> Value {
    let mut body = base;
    for (key, value) in overrides.as_object().expect("overrides are an object") {
        body[key] = value.clone();
    }
    body
}

/// The valid create body with some fields replaced.
fn instance_with(overrides: Value) -> Value {
    with(valid_instance(), overrides)
}

/// Asserts a 422 with exactly `errors` (same fields in the same order, same messages)
/// and the summary `message`.
fn assert_unprocessable(reply: &Reply, errors: &Value, message: &str, case: &str) {
    let fields: Vec<&str> = errors
        .as_object()
        .expect("the expected errors are an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_invalid_in(reply, &fields, case);
    assert_eq!(&reply.body["errors"], errors, "[{case}] errors");
    assert_eq!(reply.body["message"], message, "[{case}] message");
}

/// Creates an instance once per case with `field` set to the case's value; each must be
/// a 422 naming only that field with `message`, and none may be written.
async fn assert_create_rejects_each(
    app: &TestApp,
    tenant: i64,
    field: &str,
    cases: &[(&str, &str)],
    message: &str,
) {
    for (case, value) in cases {
        let mut body = instance_with(json!({}));
        body[field] = json!(value);

        let reply = app.create_instance(tenant, &body).await;

        assert_unprocessable(&reply, &json!({ field: [message] }), message, case);
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

/// A request as the super admin with an `Accept-Language` header.
async fn admin_in(
    app: &TestApp,
    language: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> Reply {
    let response = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(&app.admin_token)
        .header("accept-language", language)
        .json(body)
        .send()
        .await
        .expect("request sent");
    into_reply(response).await
}
