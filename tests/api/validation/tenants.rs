//! Creating and updating a tenant: its fields, its unique slug, its unit price.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::{Backend, Reply};
use crate::spawn_or_skip;

async fn tenant_creation_is_validated(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let valid = json!({"nombre": "Campaña Sur", "slug": "campana-sur"});
    let slug_format =
        "El slug solo puede contener letras minúsculas, números y guiones (máximo 64 caracteres)";
    let timezone = "El campo timezone debe ser una zona horaria IANA válida (ej: America/Bogota).";
    let strategy = "El campo rotation_strategy debe ser uno de: round_robin, least_used, most_remaining, priority.";
    let cases: Vec<(&str, Value, Value, String)> = vec![
        (
            "empty body",
            json!({}),
            json!({"nombre": [required("nombre")]}),
            required("nombre"),
        ),
        (
            "null nombre",
            json!({"nombre": null}),
            json!({"nombre": [required("nombre")]}),
            required("nombre"),
        ),
        (
            "blank nombre",
            with(valid.clone(), json!({"nombre": "  "})),
            json!({"nombre": [required("nombre")]}),
            required("nombre"),
        ),
        (
            "nombre a number",
            with(valid.clone(), json!({"nombre": 5})),
            json!({"nombre": [not_string("nombre")]}),
            not_string("nombre"),
        ),
        (
            "slug with spaces",
            with(valid.clone(), json!({"slug": "Campana Sur"})),
            json!({"slug": [slug_format]}),
            slug_format.into(),
        ),
        (
            "slug with underscore",
            with(valid.clone(), json!({"slug": "campana_sur"})),
            json!({"slug": [slug_format]}),
            slug_format.into(),
        ),
        (
            "slug leading dash",
            with(valid.clone(), json!({"slug": "-campana"})),
            json!({"slug": [slug_format]}),
            slug_format.into(),
        ),
        (
            "slug all digits",
            with(valid.clone(), json!({"slug": "12345"})),
            json!({"slug": [slug_format]}),
            slug_format.into(),
        ),
        (
            "slug 65 chars",
            with(valid.clone(), json!({"slug": "a".repeat(65)})),
            json!({"slug": [slug_format]}),
            slug_format.into(),
        ),
        (
            "timezone",
            with(valid.clone(), json!({"timezone": "Mars/Olympus"})),
            json!({"timezone": [timezone]}),
            timezone.into(),
        ),
        (
            "rotation strategy",
            with(valid.clone(), json!({"rotation_strategy": "random"})),
            json!({"rotation_strategy": [strategy]}),
            strategy.into(),
        ),
        (
            "everything at once",
            json!({"slug": "Bad Slug", "timezone": "Mars/Olympus", "rotation_strategy": "random"}),
            json!({"nombre": [required("nombre")], "slug": [slug_format], "timezone": [timezone], "rotation_strategy": [strategy]}),
            format!("{} (y 3 errores más)", required("nombre")),
        ),
    ];

    for (case, body, errors, message) in cases {
        let reply = app.create_tenant(body).await;

        assert_unprocessable(&reply, &errors, &message, case);
    }
    assert_eq!(
        app.list_total("/api/v1/tenants").await,
        0,
        "no tenant was written"
    );

    let accepted = app.create_tenant(valid).await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "the base body is valid: {}",
        accepted.body
    );
}

/// Money is a decimal with sane bounds: a price that would make the cost overflow (or
/// not be a number at all, as 1e308 did) is a 422, and an accepted one is kept exactly.
async fn whatsapp_unit_price_is_an_exact_bounded_decimal(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let path = format!("/api/v1/tenants/{tenant}");
    let range = between("whatsapp_unit_price", 0, 1_000_000);
    let decimals = "El campo whatsapp_unit_price admite como máximo 4 decimales.".to_string();
    let not_number = "El campo whatsapp_unit_price debe ser un número.".to_string();
    let cases = [
        ("1e308", json!(1e308), &range),
        ("just above the maximum", json!(1_000_000.000_1), &range),
        ("negative", json!(-1), &range),
        ("a huge integer", json!(u64::MAX), &range),
        ("five decimals", json!(0.12345), &decimals),
        ("a string with five decimals", json!("0.00001"), &decimals),
        ("words", json!("cheap"), &not_number),
        ("a boolean", json!(true), &not_number),
    ];
    for (case, price, message) in cases {
        let reply = app
            .admin(
                Method::PUT,
                &path,
                Some(&json!({"whatsapp_unit_price": price})),
            )
            .await;

        assert_unprocessable(
            &reply,
            &json!({"whatsapp_unit_price": [message]}),
            message,
            case,
        );
    }

    for (price, shown) in [
        (json!(1_000_000), json!(1_000_000)),
        (json!("0.1234"), json!(0.1234)),
        (json!(0.0001), json!(0.0001)),
        (json!(200), json!(200)),
    ] {
        let updated = app
            .admin(
                Method::PUT,
                &path,
                Some(&json!({"whatsapp_unit_price": price, "whatsapp_credits": i64::MAX})),
            )
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{price}: {}", updated.body);
        let shown_tenant = app.admin(Method::GET, &path, None).await;
        let whatsapp = &shown_tenant.body["data"]["messaging_credits"]["whatsapp"];
        assert_eq!(whatsapp["unit_price"], shown, "{price}");
        assert_eq!(whatsapp["available"], i64::MAX, "{price}");
        assert_eq!(whatsapp["total_cost"], 0, "{price}");
    }
}

async fn tenant_slug_must_be_unique(backend: Backend) {
    let app = spawn_or_skip!(backend);
    app.seed_tenant().await;

    let reply = app
        .create_tenant(json!({"nombre": "Otro", "slug": "candidato-alcaldia"}))
        .await;

    assert_unprocessable(
        &reply,
        &json!({"slug": ["Este slug ya está en uso"]}),
        "Este slug ya está en uso",
        "duplicate slug",
    );
    assert_eq!(
        app.list_total("/api/v1/tenants").await,
        1,
        "the duplicate was not written"
    );
}

async fn tenant_update_is_validated_and_writes_nothing(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.tenant_named("otro-candidato", "UTC").await;
    let path = format!("/api/v1/tenants/{tenant}");
    let shown = |reply: Reply| {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"].clone()
    };
    let before = shown(app.admin(Method::GET, &path, None).await);
    let slug_taken = "Este slug ya está en uso";
    let timezone = "El campo timezone debe ser una zona horaria IANA válida (ej: America/Bogota).";
    let cases: Vec<(&str, Value, Value, String)> = vec![
        (
            "slug of another tenant",
            json!({"slug": "otro-candidato"}),
            json!({"slug": [slug_taken]}),
            slug_taken.into(),
        ),
        (
            "null nombre",
            json!({"nombre": null}),
            json!({"nombre": [required("nombre")]}),
            required("nombre"),
        ),
        (
            "null timezone",
            json!({"timezone": null}),
            json!({"timezone": [required("timezone")]}),
            required("timezone"),
        ),
        (
            "good and bad together",
            json!({"tipo_cargo": "Gobernador", "timezone": "Mars/Olympus"}),
            json!({"timezone": [timezone]}),
            timezone.into(),
        ),
    ];

    for (case, body, errors, message) in cases {
        let reply = app.admin(Method::PUT, &path, Some(&body)).await;

        assert_unprocessable(&reply, &errors, &message, case);
        assert_eq!(
            shown(app.admin(Method::GET, &path, None).await),
            before,
            "[{case}] the tenant is unchanged"
        );
    }

    let own_slug = app
        .admin(
            Method::PUT,
            &path,
            Some(&json!({"slug": "candidato-alcaldia"})),
        )
        .await;
    assert_eq!(
        own_slug.status,
        StatusCode::OK,
        "its own slug is not taken: {}",
        own_slug.body
    );
}

both_backends!(
    tenant_creation_is_validated,
    whatsapp_unit_price_is_an_exact_bounded_decimal,
    tenant_slug_must_be_unique,
    tenant_update_is_validated_and_writes_nothing,
);
