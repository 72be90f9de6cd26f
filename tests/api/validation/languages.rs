//! The field messages and the summary `message` follow `Accept-Language` (or
//! `RELEVO_LOCALE`); the `error_key` never does.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;
use crate::both_backends;
use crate::helpers::{assert_error_in, instances_path, spawn_app_with, Backend};
use crate::spawn_or_skip;

async fn accept_language_switches_the_texts_but_not_the_error_key(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let spanish = (
        json!({
            "phone_number": ["El campo phone_number es obligatorio."],
            "instance_name": ["El campo instance_name es obligatorio."],
            "evolution_api_key": ["El campo evolution_api_key es obligatorio."],
            "daily_message_limit": ["El campo daily_message_limit es obligatorio."],
        }),
        "El campo phone_number es obligatorio. (y 3 errores más)",
    );
    let english = (
        json!({
            "phone_number": ["The phone_number field is required."],
            "instance_name": ["The instance_name field is required."],
            "evolution_api_key": ["The evolution_api_key field is required."],
            "daily_message_limit": ["The daily_message_limit field is required."],
        }),
        "The phone_number field is required. (and 3 more errors)",
    );
    let portuguese = (
        json!({
            "phone_number": ["O campo phone_number é obrigatório."],
            "instance_name": ["O campo instance_name é obrigatório."],
            "evolution_api_key": ["O campo evolution_api_key é obrigatório."],
            "daily_message_limit": ["O campo daily_message_limit é obrigatório."],
        }),
        "O campo phone_number é obrigatório. (e mais 3 erros)",
    );
    let cases = [
        ("es", &spanish),
        ("en", &english),
        ("pt", &portuguese),
        ("en-US,en;q=0.9", &english),
        ("de-DE (unsupported: the default, Spanish)", &spanish),
        ("fr, pt-BR;q=0.8, en;q=0.5", &portuguese),
    ];

    for (label, (errors, message)) in cases {
        let language = label.split(" (").next().unwrap();
        let reply = admin_in(
            &app,
            language,
            Method::POST,
            &instances_path(tenant),
            &json!({}),
        )
        .await;

        assert_unprocessable(&reply, errors, message, label);
    }
}

async fn relevo_locale_sets_the_language_when_the_request_names_none(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("RELEVO_LOCALE", "en")]).await else {
        return;
    };
    let tenant = app.seed_tenant().await;
    let body = instance_with(json!({"daily_message_limit": 0}));
    let cases = [
        ("no header", None, "The daily limit must be at least 1"),
        (
            "unsupported language",
            Some("de-DE"),
            "The daily limit must be at least 1",
        ),
        ("explicit Spanish", Some("es"), LIMIT_MIN),
        (
            "explicit Portuguese",
            Some("pt-BR"),
            "O limite diário deve ser de pelo menos 1",
        ),
    ];

    for (case, language, message) in cases {
        let reply = match language {
            Some(language) => {
                admin_in(&app, language, Method::POST, &instances_path(tenant), &body).await
            }
            None => app.create_instance(tenant, &body).await,
        };

        assert_unprocessable(
            &reply,
            &json!({"daily_message_limit": [message]}),
            message,
            case,
        );
    }
}

async fn seed_rule_messages_are_translated(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573001234567", "principal_campana", 1000)
        .await;
    let bad = instance_with(
        json!({"phone_number": "573009876543", "instance_name": "otra", "daily_message_limit": 0}),
    );
    let duplicate = instance_with(json!({"instance_name": "otra", "daily_message_limit": 100001}));
    let cases = [
        (
            "es",
            &bad,
            json!({"phone_number": [PHONE_FORMAT], "daily_message_limit": [LIMIT_MIN]}),
            format!("{PHONE_FORMAT} (y 1 error más)"),
        ),
        (
            "en",
            &bad,
            json!({
                "phone_number": ["The phone number must be in international format (e.g. +573001234567)"],
                "daily_message_limit": ["The daily limit must be at least 1"],
            }),
            "The phone number must be in international format (e.g. +573001234567) (and 1 more error)".to_string(),
        ),
        (
            "pt",
            &bad,
            json!({
                "phone_number": ["O número de telefone deve estar no formato internacional (ex: +573001234567)"],
                "daily_message_limit": ["O limite diário deve ser de pelo menos 1"],
            }),
            "O número de telefone deve estar no formato internacional (ex: +573001234567) (e mais 1 erro)".to_string(),
        ),
        (
            "en",
            &duplicate,
            json!({
                "phone_number": ["This phone number is already registered for this tenant"],
                "daily_message_limit": ["The daily limit may not be greater than 100000"],
            }),
            "The daily limit may not be greater than 100000 (and 1 more error)".to_string(),
        ),
        (
            "pt",
            &duplicate,
            json!({
                "phone_number": ["Este número de telefone já está registrado para este tenant"],
                "daily_message_limit": ["O limite diário não pode ser maior que 100000"],
            }),
            "O limite diário não pode ser maior que 100000 (e mais 1 erro)".to_string(),
        ),
    ];

    for (language, body, errors, message) in cases {
        let reply = admin_in(&app, language, Method::POST, &instances_path(tenant), body).await;

        let case = format!("{language}: {body}");
        assert_error_in(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
            &case,
        );
        assert_eq!(reply.body["errors"], errors, "[{case}]");
        assert_eq!(reply.body["message"], message.as_str(), "[{case}]");
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        1,
        "nothing was written"
    );
}

both_backends!(
    accept_language_switches_the_texts_but_not_the_error_key,
    relevo_locale_sets_the_language_when_the_request_names_none,
    seed_rule_messages_are_translated,
);
