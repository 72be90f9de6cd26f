//! Tenants (SPEC section 4): by id or slug, with seed 001's embedded view.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{assert_error, Backend};
use crate::spawn_or_skip;

async fn create_show_update_and_list(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let created = app
        .create_tenant(json!({"nombre": "Juan Pérez - Alcaldía", "tipo_cargo": "Alcalde", "identificacion": "1234567890",
                              "callback_url": "https://crm.example.com/hooks", "callback_secret": "a-very-long-secret-value"}))
        .await;
    let id = created.body["data"]["id"].as_i64().unwrap();
    let updated = app
        .admin(
            Method::PUT,
            "/api/v1/tenants/juan-perez-alcaldia",
            Some(&json!({"timezone": "America/Bogota", "tipo_cargo": null})),
        )
        .await;
    let shown = app
        .admin(Method::GET, &format!("/api/v1/tenants/{id}"), None)
        .await;
    let listed = app
        .admin(Method::GET, "/api/v1/tenants?per_page=1", None)
        .await;

    assert_eq!(created.status, StatusCode::CREATED);
    let data = &created.body["data"];
    assert_eq!(
        data["slug"], "juan-perez-alcaldia",
        "the slug is made from the name"
    );
    assert_eq!(data["timezone"], "UTC");
    assert_eq!(data["rotation_strategy"], "round_robin");
    assert_eq!(data["has_callback_secret"], true);
    assert!(
        data.get("callback_secret").is_none(),
        "the secret is write-only: {data}"
    );
    assert_eq!(data["created_at"], "2025-11-17T06:30:00.000000Z");
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["data"]["timezone"], "America/Bogota");
    assert_eq!(updated.body["data"]["tipo_cargo"], serde_json::Value::Null);
    assert_eq!(
        updated.body["data"]["identificacion"], "1234567890",
        "fields not sent are kept"
    );
    assert_eq!(shown.body["data"]["timezone"], "America/Bogota");
    assert_eq!(
        listed.body["meta"],
        json!({"total": 1, "current_page": 1, "last_page": 1, "per_page": 1})
    );
    assert_eq!(listed.body["data"][0]["id"], id);
}

async fn show_embeds_instances_counts_and_credits_like_seed_section_8(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let first = app
        .instance(tenant, "+573001234567", "principal_campana", 1000)
        .await;
    let second = app
        .instance(tenant, "+573009876543", "secundaria_recordatorios", 500)
        .await;
    app.set_sent(first, 245, "2025-11-17");
    app.admin(
        Method::POST,
        &format!("/api/v1/tenants/{tenant}/whatsapp-instances/{second}/toggle-active"),
        None,
    )
    .await;
    app.admin(
        Method::PUT,
        &format!("/api/v1/tenants/{tenant}"),
        Some(&json!({"whatsapp_credits": 2450, "whatsapp_unit_price": 200})),
    )
    .await;

    let reply = app
        .admin(Method::GET, "/api/v1/tenants/candidato-alcaldia", None)
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    let data = &reply.body["data"];
    for (field, value) in [
        ("id", json!(tenant)),
        ("slug", json!("candidato-alcaldia")),
        ("nombre", json!("Juan Pérez - Alcaldía")),
        ("tipo_cargo", json!("Alcalde")),
        ("identificacion", json!("1234567890")),
    ] {
        assert_eq!(data[field], value, "{field}");
    }
    assert_eq!(data["whatsapp_instances_count"], 2);
    assert_eq!(data["active_whatsapp_instances_count"], 1);
    let instances = data["whatsapp_instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    assert_eq!(instances[0]["messages_sent_today"], 245);
    assert!(instances
        .iter()
        .all(|i| i.get("evolution_api_key").is_none()));
    assert_eq!(
        data["messaging_credits"],
        json!({
            "emails": {"available": 0, "used": 0, "total_cost": 0, "unit_price": 0, "percentage_used": 0},
            "whatsapp": {"available": 2450, "used": 0, "total_cost": 0, "unit_price": 200, "percentage_used": 0},
            "total_cost": 0, "currency": "COP", "last_transaction_at": null
        })
    );
}

async fn deleting_a_tenant_with_instances_needs_force(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let instance = app
        .instance(tenant, "+573001234567", "principal", 1000)
        .await;

    let refused = app
        .admin(Method::DELETE, "/api/v1/tenants/candidato-alcaldia", None)
        .await;
    let still_there = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances/{instance}"),
            None,
        )
        .await;
    let forced = app
        .admin(
            Method::DELETE,
            "/api/v1/tenants/candidato-alcaldia?force=true",
            None,
        )
        .await;
    let gone = app
        .admin(Method::GET, &format!("/api/v1/tenants/{tenant}"), None)
        .await;
    let orphans = app
        .admin(Method::GET, "/api/v1/whatsapp-instances", None)
        .await;

    assert_error(&refused, StatusCode::CONFLICT, "tenant.has_instances");
    assert_eq!(still_there.status, StatusCode::OK);
    assert_eq!(forced.status, StatusCode::OK);
    assert_eq!(
        forced.body,
        json!({"message": "Tenant deleted successfully"})
    );
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        gone.body,
        json!({"message": "Tenant not found", "error_key": "tenant.not_found"})
    );
    assert_eq!(
        orphans.body["meta"]["total"], 0,
        "instances go with their tenant"
    );
}

async fn an_empty_tenant_is_deleted_without_force(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let reply = app
        .admin(Method::DELETE, &format!("/api/v1/tenants/{tenant}"), None)
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        app.admin(Method::GET, &format!("/api/v1/tenants/{tenant}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

both_backends!(
    create_show_update_and_list,
    show_embeds_instances_counts_and_credits_like_seed_section_8,
    deleting_a_tenant_with_instances_needs_force,
    an_empty_tenant_is_deleted_without_force,
);
