//! A field's `maxLength` counts every character sent, whitespace around the value included,
//! as the document says; the value kept is trimmed (`relevo::input::at_most`).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Backend, Reply, TestApp};
use crate::spawn_or_skip;

both_backends!(a_length_counts_every_character_sent);

fn fields_refused(reply: &Reply) -> Vec<String> {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let mut fields: Vec<String> = reply.body["errors"]
        .as_object()
        .map(|errors| errors.keys().cloned().collect())
        .unwrap_or_default();
    fields.sort();
    fields
}

fn instance_body(overrides: Value) -> Value {
    let mut body = json!({
        "phone_number": "+573001234567",
        "instance_name": "principal_campana",
        "evolution_api_key": "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A",
        "daily_message_limit": 1000,
    });
    for (key, value) in overrides.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

async fn token(app: &TestApp, tenant: i64, name: &str) -> Reply {
    app.admin(
        reqwest::Method::POST,
        &format!("/api/v1/tenants/{tenant}/sender-tokens"),
        Some(&json!({"name": name})),
    )
    .await
}

async fn a_length_counts_every_character_sent(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let (name, slug) = ("n".repeat(255), "s".repeat(64));

    // At the bound and trimmed to it, but sent longer: refused.
    let padded_tenant = app
        .create_tenant(json!({"nombre": format!(" {name}"), "slug": format!("{slug}\u{85}")}))
        .await;
    assert_eq!(fields_refused(&padded_tenant), ["nombre", "slug"]);
    let padded_token = token(&app, tenant, &format!("\u{85}{}", "0".repeat(100))).await;
    assert_eq!(fields_refused(&padded_token), ["name"]);
    let padded_instance = app
        .create_instance(
            tenant,
            &instance_body(json!({
                "notes": format!("{} ", "x".repeat(1000)),
                "evolution_api_key": format!("\t{}", "k".repeat(255)),
            })),
        )
        .await;
    assert_eq!(
        fields_refused(&padded_instance),
        ["evolution_api_key", "notes"]
    );

    // Padded within the bound: taken, and kept trimmed.
    let tenant_reply = app
        .create_tenant(
            json!({"nombre": format!(" {}", &name[1..]), "slug": format!("{}\u{85}", &slug[1..])}),
        )
        .await;
    assert_eq!(
        tenant_reply.status,
        StatusCode::CREATED,
        "{}",
        tenant_reply.body
    );
    assert_eq!(tenant_reply.body["data"]["nombre"], name[1..]);
    assert_eq!(tenant_reply.body["data"]["slug"], slug[1..]);
    let token_reply = token(&app, tenant, &format!("\u{85}{}", "0".repeat(99))).await;
    assert_eq!(
        token_reply.status,
        StatusCode::CREATED,
        "{}",
        token_reply.body
    );
    assert_eq!(token_reply.body["data"]["name"], "0".repeat(99));
    let instance_reply = app
        .create_instance(
            tenant,
            &instance_body(json!({"notes": format!("{} ", "x".repeat(999))})),
        )
        .await;
    assert_eq!(
        instance_reply.status,
        StatusCode::CREATED,
        "{}",
        instance_reply.body
    );
    assert_eq!(instance_reply.body["data"]["notes"], "x".repeat(999));
}
