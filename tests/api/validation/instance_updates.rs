//! Updating an instance validates like creating one, takes a partial body, and writes
//! nothing when any field is refused.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::{instance_path, Backend};
use crate::spawn_or_skip;

async fn update_validates_like_create_and_writes_nothing(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573001234567", "principal_campana", 1000)
        .await;
    let before = app.show_instance(tenant, id).await;
    let cases: Vec<(&str, Value, Value, String)> = vec![
        (
            "phone without +",
            json!({"phone_number": "573009876543"}),
            json!({"phone_number": [PHONE_FORMAT]}),
            PHONE_FORMAT.into(),
        ),
        (
            "phone bad country",
            json!({"phone_number": "+999123456789"}),
            json!({"phone_number": [PHONE_FORMAT]}),
            PHONE_FORMAT.into(),
        ),
        (
            "phone as number",
            json!({"phone_number": 573009876543_i64}),
            json!({"phone_number": [not_string("phone_number")]}),
            not_string("phone_number"),
        ),
        (
            "name with spaces",
            json!({"instance_name": "con espacio"}),
            json!({"instance_name": [NAME_FORMAT]}),
            NAME_FORMAT.into(),
        ),
        (
            "name 51 chars",
            json!({"instance_name": "y".repeat(51)}),
            json!({"instance_name": [NAME_FORMAT]}),
            NAME_FORMAT.into(),
        ),
        (
            "limit 0",
            json!({"daily_message_limit": 0}),
            json!({"daily_message_limit": [LIMIT_MIN]}),
            LIMIT_MIN.into(),
        ),
        (
            "limit -1",
            json!({"daily_message_limit": -1}),
            json!({"daily_message_limit": [LIMIT_MIN]}),
            LIMIT_MIN.into(),
        ),
        (
            "limit 100001",
            json!({"daily_message_limit": 100001}),
            json!({"daily_message_limit": [LIMIT_MAX]}),
            LIMIT_MAX.into(),
        ),
        (
            "limit abc",
            json!({"daily_message_limit": "abc"}),
            json!({"daily_message_limit": [not_integer("daily_message_limit")]}),
            not_integer("daily_message_limit"),
        ),
        (
            "is_active maybe",
            json!({"is_active": "maybe"}),
            json!({"is_active": [not_boolean("is_active")]}),
            not_boolean("is_active"),
        ),
        (
            "notes 1001",
            json!({"notes": "n".repeat(1001)}),
            json!({"notes": [max_length("notes", 1000)]}),
            max_length("notes", 1000),
        ),
        (
            "notes number",
            json!({"notes": 5}),
            json!({"notes": [not_string("notes")]}),
            not_string("notes"),
        ),
        (
            "url ftp",
            json!({"evolution_api_url": "ftp://evo.example.com"}),
            json!({"evolution_api_url": [not_url("evolution_api_url")]}),
            not_url("evolution_api_url"),
        ),
        (
            "one good field does not save when another is bad",
            json!({"notes": "válida", "daily_message_limit": 0, "instance_name": "otro nombre"}),
            json!({"instance_name": [NAME_FORMAT], "daily_message_limit": [LIMIT_MIN]}),
            format!("{NAME_FORMAT} (y 1 error más)"),
        ),
    ];

    for (case, body, errors, message) in cases {
        let reply = app
            .admin(Method::PUT, &instance_path(tenant, id), Some(&body))
            .await;

        assert_unprocessable(&reply, &errors, &message, case);
        assert_eq!(
            app.show_instance(tenant, id).await,
            before,
            "[{case}] the row is unchanged"
        );
    }
}

async fn update_accepts_a_partial_body(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573001234567", "principal_campana", 1000)
        .await;
    let before = app.show_instance(tenant, id).await;

    let reply = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"daily_message_limit": 1500})),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut expected = before.clone();
    expected["daily_message_limit"] = json!(1500);
    expected["remaining_quota"] = json!(1500);
    assert_eq!(reply.body["data"], expected, "only the limit changed");
    assert_eq!(
        app.show_instance(tenant, id).await,
        expected,
        "and it was stored"
    );
}

async fn update_null_clears_notes_but_is_required_for_required_fields(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let created = app
        .create_instance(
            tenant,
            &instance_with(json!({"notes": "Instancia principal", "evolution_api_url": "https://evo.example.com"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let before = app.show_instance(tenant, id).await;

    for field in [
        "phone_number",
        "instance_name",
        "evolution_api_key",
        "daily_message_limit",
        "is_active",
    ] {
        let reply = app
            .admin(
                Method::PUT,
                &instance_path(tenant, id),
                Some(&json!({ field: null })),
            )
            .await;

        assert_unprocessable(
            &reply,
            &json!({ field: [required(field)] }),
            &required(field),
            field,
        );
        assert_eq!(
            app.show_instance(tenant, id).await,
            before,
            "[{field}] the row is unchanged"
        );
    }

    let reply = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            // Back to the default server, another origin: with the key for it.
            Some(&json!({"notes": null, "evolution_api_url": null, "evolution_api_key": "clave-nueva"})),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["notes"], Value::Null);
    assert_eq!(reply.body["data"]["evolution_api_url"], Value::Null);
    let after = app.show_instance(tenant, id).await;
    assert_eq!(after["notes"], Value::Null, "cleared in storage");
    assert_eq!(
        after["evolution_api_url"],
        Value::Null,
        "back to the default server"
    );
    assert_eq!(after["phone_number"], before["phone_number"]);
}

both_backends!(
    update_validates_like_create_and_writes_nothing,
    update_accepts_a_partial_body,
    update_null_clears_notes_but_is_required_for_required_fields,
);
