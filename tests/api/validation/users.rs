//! Creating a user: its email, password, role and tenant.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::{Backend, ADMIN_EMAIL};
use crate::spawn_or_skip;

async fn user_creation_is_validated(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let users_before = app.list_total("/api/v1/users").await;
    let email = "El campo email debe ser un correo electrónico válido.";
    let taken = "Este correo electrónico ya está registrado";
    let role = "El campo role debe ser uno de: super_admin, tenant_user.";
    let prohibited = "El campo tenant_id no está permitido para este rol.";
    let missing_tenant = "El tenant seleccionado no existe";
    let user = |overrides: Value| {
        with(
            json!({"email": "ana@example.com", "password": "Secret pass phrase 7 blue", "role": "tenant_user", "tenant_id": tenant}),
            overrides,
        )
    };
    let cases: Vec<(&str, Value, Value, String)> = vec![
        (
            "empty body",
            json!({}),
            json!({"email": [required("email")], "password": [required("password")], "role": [required("role")]}),
            format!("{} (y 2 errores más)", required("email")),
        ),
        (
            "bad email",
            user(json!({"email": "no-at-sign"})),
            json!({"email": [email]}),
            email.into(),
        ),
        (
            "email with spaces",
            user(json!({"email": "ana maria@example.com"})),
            json!({"email": [email]}),
            email.into(),
        ),
        (
            "short password",
            user(json!({"password": "short"})),
            json!({"password": ["El campo password debe tener al menos 8 caracteres."]}),
            "El campo password debe tener al menos 8 caracteres.".into(),
        ),
        (
            "long password",
            user(json!({"password": "p".repeat(129)})),
            json!({"password": [max_length("password", 128)]}),
            max_length("password", 128),
        ),
        (
            "unknown role",
            user(json!({"role": "god"})),
            json!({"role": [role]}),
            role.into(),
        ),
        (
            "tenant_user without tenant_id",
            user(json!({"tenant_id": null})),
            json!({"tenant_id": [required("tenant_id")]}),
            required("tenant_id"),
        ),
        (
            "tenant_id not a number",
            user(json!({"tenant_id": "abc"})),
            json!({"tenant_id": [not_integer("tenant_id")]}),
            not_integer("tenant_id"),
        ),
        (
            "super_admin with tenant_id",
            user(json!({"role": "super_admin"})),
            json!({"tenant_id": [prohibited]}),
            prohibited.into(),
        ),
        (
            "nonexistent tenant",
            user(json!({"tenant_id": tenant + 999})),
            json!({"tenant_id": [missing_tenant]}),
            missing_tenant.into(),
        ),
        (
            "duplicate email",
            user(json!({"email": ADMIN_EMAIL})),
            json!({"email": [taken]}),
            taken.into(),
        ),
        (
            "duplicate email, other case",
            user(json!({"email": ADMIN_EMAIL.to_uppercase()})),
            json!({"email": [taken]}),
            taken.into(),
        ),
    ];

    for (case, body, errors, message) in cases {
        let reply = app.create_user(body).await;

        assert_unprocessable(&reply, &errors, &message, case);
    }
    assert_eq!(
        app.list_total("/api/v1/users").await,
        users_before,
        "no user was written"
    );

    let accepted = app.create_user(user(json!({}))).await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "the base body is valid: {}",
        accepted.body
    );
}

both_backends!(user_creation_is_validated,);
