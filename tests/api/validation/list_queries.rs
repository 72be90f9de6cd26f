//! The query parameters of the list endpoints: pages, filters, and empty values.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::{instances_path, Backend};
use crate::spawn_or_skip;

async fn list_query_parameters_are_validated(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573001234567", "principal", 1000)
        .await;
    let statuses = "El campo connection_status debe ser uno de: unknown, connecting, connected, disconnected, error.";
    let all = "/api/v1/whatsapp-instances";
    let of_tenant = instances_path(tenant);
    let cases: Vec<(String, Value, String)> = vec![
        (
            format!("{all}?per_page=0"),
            json!({"per_page": [between("per_page", 1, 100)]}),
            between("per_page", 1, 100),
        ),
        (
            format!("{all}?per_page=101"),
            json!({"per_page": [between("per_page", 1, 100)]}),
            between("per_page", 1, 100),
        ),
        (
            format!("{all}?per_page=-5"),
            json!({"per_page": [between("per_page", 1, 100)]}),
            between("per_page", 1, 100),
        ),
        (
            format!("{all}?page=abc"),
            json!({"page": [not_integer("page")]}),
            not_integer("page"),
        ),
        (
            format!("{all}?page=0"),
            json!({"page": [between("page", 1, i64::MAX / 1000)]}),
            between("page", 1, i64::MAX / 1000),
        ),
        (
            format!("{all}?is_active=maybe"),
            json!({"is_active": [not_boolean("is_active")]}),
            not_boolean("is_active"),
        ),
        (
            format!("{all}?connection_status=bogus"),
            json!({"connection_status": [statuses]}),
            statuses.into(),
        ),
        (
            format!("{all}?tenant_id=abc"),
            json!({"tenant_id": [not_integer("tenant_id")]}),
            not_integer("tenant_id"),
        ),
        (
            format!("{all}?per_page=0&page=abc&is_active=maybe&connection_status=bogus"),
            json!({
                "connection_status": [statuses],
                "is_active": [not_boolean("is_active")],
                "page": [not_integer("page")],
                "per_page": [between("per_page", 1, 100)],
            }),
            format!("{statuses} (y 3 errores más)"),
        ),
        (
            format!("{of_tenant}?is_active=maybe&per_page=101"),
            json!({"is_active": [not_boolean("is_active")], "per_page": [between("per_page", 1, 100)]}),
            format!("{} (y 1 error más)", not_boolean("is_active")),
        ),
        (
            "/api/v1/tenants?per_page=0".into(),
            json!({"per_page": [between("per_page", 1, 100)]}),
            between("per_page", 1, 100),
        ),
        (
            "/api/v1/users?page=abc".into(),
            json!({"page": [not_integer("page")]}),
            not_integer("page"),
        ),
        // An empty value is given, not absent: none of these types has an empty form.
        (
            format!("{all}?per_page=&is_active=%20&connection_status=&tenant_id="),
            json!({
                "connection_status": [statuses],
                "tenant_id": [not_integer("tenant_id")],
                "is_active": [not_boolean("is_active")],
                "per_page": [not_integer("per_page")],
            }),
            format!("{statuses} (y 3 errores más)"),
        ),
        (
            format!("/api/v1/tenants/{tenant}?force="),
            json!({"force": [not_boolean("force")]}),
            not_boolean("force"),
        ),
    ];

    for (path, errors, message) in cases {
        let method = if path.contains("force=") {
            Method::DELETE
        } else {
            Method::GET
        };
        let reply = app.admin(method, &path, None).await;

        assert_unprocessable(&reply, &errors, &message, &path);
    }
    // `search` is free text: empty, it filters nothing.
    let reply = app
        .admin(Method::GET, &format!("{all}?search="), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["meta"]["total"], 1);

    // The bounds themselves are accepted.
    for (path, per_page) in [
        (
            format!("{all}?per_page=1&page=1&is_active=true&connection_status=unknown"),
            1,
        ),
        (format!("{all}?per_page=100&is_active=1"), 100),
        (format!("{of_tenant}?per_page=100&is_active=false"), 100),
    ] {
        let reply = app.admin(Method::GET, &path, None).await;

        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert_eq!(reply.body["meta"]["per_page"], per_page, "{path}");
    }
}

both_backends!(list_query_parameters_are_validated,);
