//! Seed 001 replayed: every request of its examples, every answer compared field by field.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    assert_error, assert_invalid_in, created_id, instance_path, instances_path, Backend, Reply,
    TestApp,
};
use crate::spawn_or_skip;

fn seed_create_body() -> Value {
    json!({
        "phone_number": "+573001234567",
        "instance_name": "principal_campana",
        "evolution_api_key": "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A",
        "evolution_api_url": "https://evolution.midominio.com",
        "daily_message_limit": 1000,
        "is_active": true,
        "notes": "Instancia principal para campaña electoral"
    })
}

fn seed_second_body() -> Value {
    json!({
        "phone_number": "+573009876543",
        "instance_name": "secundaria_recordatorios",
        "evolution_api_key": "yyy",
        "daily_message_limit": 500,
        "notes": "Para recordatorios de reuniones y compromisos"
    })
}

/// `GET …/statistics` of the instance `id` of `tenant`.
async fn statistics(app: &TestApp, tenant: i64, id: i64) -> Reply {
    app.admin(
        Method::GET,
        &format!("{}/statistics", instance_path(tenant, id)),
        None,
    )
    .await
}

/// Asserts that every field of `expected` is in `actual` with the same value.
fn assert_contains(actual: &Value, expected: &Value) {
    for (key, value) in expected.as_object().expect("expected an object") {
        assert_eq!(actual.get(key), Some(value), "field `{key}` in {actual}");
    }
}

const LIST_FIELDS: &[&str] = &[
    "id",
    "tenant_id",
    "phone_number",
    "instance_name",
    "evolution_api_url",
    "daily_message_limit",
    "messages_sent_today",
    "remaining_quota",
    "last_reset_date",
    "is_active",
    "can_send_messages",
    "notes",
    "created_at",
    "updated_at",
];

async fn create_answers_201_with_the_seed_json(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let reply = app.create_instance(tenant, &seed_create_body()).await;

    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        reply.body["message"],
        "WhatsApp instance created successfully"
    );
    let mut expected = json!({
        "tenant_id": tenant,
        "phone_number": "+573001234567",
        "instance_name": "principal_campana",
        "evolution_api_key": "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A",
        "evolution_api_url": "https://evolution.midominio.com",
        "daily_message_limit": 1000,
        "messages_sent_today": 0,
        "remaining_quota": 1000,
        "last_reset_date": "2025-11-17",
        "is_active": true,
        "can_send_messages": true,
        "notes": "Instancia principal para campaña electoral",
        "created_at": "2025-11-17T06:30:00.000000Z",
        "updated_at": "2025-11-17T06:30:00.000000Z",
        "tenant": {"id": tenant, "slug": "candidato-alcaldia", "nombre": "Juan Pérez - Alcaldía"}
    });
    assert_contains(&reply.body["data"], &expected);
    assert!(reply.body["data"]["id"].as_i64().unwrap() > 0);
    // Additive fields start out unknown.
    expected = json!({"connection_status": "unknown", "priority": 0, "owner_jid": null, "last_used_at": null});
    assert_contains(&reply.body["data"], &expected);
}

async fn list_hides_keys_and_paginates_like_the_seed(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let first = created_id(app.create_instance(tenant, &seed_create_body()).await);
    let second = created_id(app.create_instance(tenant, &seed_second_body()).await);
    app.set_sent(first, 245, "2025-11-17");
    app.set_sent(second, 120, "2025-11-17");

    let reply = app
        .admin(
            Method::GET,
            &format!("{}?is_active=true&per_page=10", instances_path(tenant)),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body["meta"],
        json!({"total": 2, "current_page": 1, "last_page": 1, "per_page": 10})
    );
    let items = reply.body["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        for field in LIST_FIELDS {
            assert!(
                item.get(field).is_some(),
                "list item lacks `{field}`: {item}"
            );
        }
        assert!(
            item.get("evolution_api_key").is_none(),
            "a list must never show keys: {item}"
        );
        assert!(item.get("tenant").is_none());
    }
    assert_contains(
        &items[0],
        &json!({"messages_sent_today": 245, "remaining_quota": 755, "can_send_messages": true}),
    );
    assert_contains(
        &items[1],
        &json!({"evolution_api_url": null, "daily_message_limit": 500, "messages_sent_today": 120, "remaining_quota": 380}),
    );
}

async fn show_includes_the_key_and_the_tenant(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = created_id(app.create_instance(tenant, &seed_create_body()).await);
    app.set_sent(id, 245, "2025-11-17");

    let reply = app
        .admin(Method::GET, &instance_path(tenant, id), None)
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.get("message").is_none());
    assert_contains(
        &reply.body["data"],
        &json!({
            "id": id, "evolution_api_key": "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A",
            "messages_sent_today": 245, "remaining_quota": 755,
            "tenant": {"id": tenant, "slug": "candidato-alcaldia", "nombre": "Juan Pérez - Alcaldía"}
        }),
    );
    // The tenant may also be named by its slug.
    let by_slug = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/candidato-alcaldia/whatsapp-instances/{id}"),
            None,
        )
        .await;
    assert_eq!(by_slug.body["data"]["id"], id);
}

async fn partial_update_changes_only_what_was_sent(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = created_id(app.create_instance(tenant, &seed_create_body()).await);
    app.set_sent(id, 245, "2025-11-17");
    app.clock.advance(chrono::Duration::minutes(270)); // 11:00, as in the seed

    let reply = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(
                &json!({"instance_name": "principal_actualizada", "daily_message_limit": 1500,
                         "notes": "Límite aumentado por campaña intensiva"}),
            ),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "WhatsApp instance updated successfully"
    );
    assert_contains(
        &reply.body["data"],
        &json!({
            "phone_number": "+573001234567", "instance_name": "principal_actualizada",
            "evolution_api_url": "https://evolution.midominio.com", "daily_message_limit": 1500,
            "messages_sent_today": 245, "remaining_quota": 1255, "is_active": true,
            "notes": "Límite aumentado por campaña intensiva",
            "created_at": "2025-11-17T06:30:00.000000Z", "updated_at": "2025-11-17T11:00:00.000000Z",
            "tenant": {"id": tenant, "slug": "candidato-alcaldia", "nombre": "Juan Pérez - Alcaldía"}
        }),
    );

    // Lowering the limit under today's count is allowed and leaves nothing to send.
    let lowered = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"daily_message_limit": 200})),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK);
    assert_contains(
        &lowered.body["data"],
        &json!({"remaining_quota": 0, "can_send_messages": false}),
    );
}

async fn toggle_active_flips_and_says_which_way(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = created_id(app.create_instance(tenant, &seed_create_body()).await);
    let toggle = format!("{}/toggle-active", instance_path(tenant, id));

    let off = app.admin(Method::POST, &toggle, None).await;
    let on = app.admin(Method::POST, &toggle, None).await;

    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.body["message"], "WhatsApp instance deactivated");
    assert_contains(
        &off.body["data"],
        &json!({"is_active": false, "can_send_messages": false}),
    );
    assert!(off.body["data"].get("evolution_api_key").is_none());
    assert_eq!(on.body["message"], "WhatsApp instance activated");
    assert_contains(
        &on.body["data"],
        &json!({"is_active": true, "can_send_messages": true}),
    );
}

async fn statistics_have_exactly_the_seed_shape(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = created_id(app.create_instance(tenant, &seed_create_body()).await);
    app.set_sent(id, 245, "2025-11-17");

    let reply = statistics(&app, tenant, id).await;

    assert_eq!(reply.status, StatusCode::OK);
    let mut body = reply.body;
    // Seed 001's object exactly, plus the additive 30-day history.
    let history = body["data"]
        .as_object_mut()
        .unwrap()
        .remove("history")
        .unwrap();
    assert_eq!(history.as_array().unwrap().len(), 30);
    assert_eq!(
        body,
        json!({"data": {
            "instance_id": id, "phone_number": "+573001234567", "is_active": true, "daily_limit": 1000,
            "sent_today": 245, "remaining_today": 755, "usage_percentage": 24.5, "can_send": true,
            "last_reset": "2025-11-17 00:00:00"
        }})
    );

    // Seed 001's "límite excedido".
    app.set_sent(id, 1000, "2025-11-17");
    let full = statistics(&app, tenant, id).await;
    assert_contains(
        &full.body["data"],
        &json!({"can_send": false, "usage_percentage": 100, "remaining_today": 0}),
    );
}

async fn reset_counter_gives_back_the_whole_day(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = created_id(app.create_instance(tenant, &seed_create_body()).await);
    app.set_sent(id, 1000, "2025-11-17");

    let reply = app
        .admin(
            Method::POST,
            &format!("{}/reset-counter", instance_path(tenant, id)),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_contains(
        &reply.body["data"],
        &json!({"messages_sent_today": 0, "remaining_quota": 1000, "last_reset_date": "2025-11-17", "can_send_messages": true}),
    );
    let stats = statistics(&app, tenant, id).await;
    assert_eq!(stats.body["data"]["sent_today"], 0);
}

async fn delete_answers_the_seed_message_and_the_instance_is_gone(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = created_id(app.create_instance(tenant, &seed_create_body()).await);

    let reply = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;
    let again = app
        .admin(Method::DELETE, &instance_path(tenant, id), None)
        .await;
    let show = app
        .admin(Method::GET, &instance_path(tenant, id), None)
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        json!({"message": "WhatsApp instance deleted successfully"})
    );
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(show.status, StatusCode::NOT_FOUND);
    assert_eq!(
        show.body,
        json!({"message": "WhatsApp instance not found", "error_key": "whatsapp.instance_not_found"})
    );
}

async fn an_instance_of_another_tenant_is_not_found(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let other = app.tenant_named("otro-tenant", "UTC").await;
    let id = created_id(app.create_instance(tenant, &seed_create_body()).await);

    for (method, rest) in [
        (Method::GET, format!("/{id}")),
        (Method::PUT, format!("/{id}")),
        (Method::DELETE, format!("/{id}")),
        (Method::POST, format!("/{id}/toggle-active")),
        (Method::POST, format!("/{id}/reset-counter")),
        (Method::GET, format!("/{id}/statistics")),
    ] {
        let reply = app
            .admin(
                method.clone(),
                &format!("{}{rest}", instances_path(other)),
                Some(&json!({})),
            )
            .await;
        assert_error(&reply, StatusCode::NOT_FOUND, "whatsapp.instance_not_found");
    }
    // Nothing happened to the real one.
    let show = app
        .admin(Method::GET, &instance_path(tenant, id), None)
        .await;
    assert_eq!(show.body["data"]["is_active"], true);
}

async fn global_list_filters_and_paginates(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let a = app.seed_tenant().await;
    let b = app.tenant_named("segundo", "UTC").await;
    app.instance(a, "+573001234567", "principal_campana", 1000)
        .await;
    let inactive = app.instance(a, "+573009876543", "secundaria", 500).await;
    app.instance(b, "+5511987654321", "sao_paulo", 100).await;
    app.admin(
        Method::POST,
        &format!("/api/v1/tenants/{a}/whatsapp-instances/{inactive}/toggle-active"),
        None,
    )
    .await;

    let all = app
        .admin(Method::GET, "/api/v1/whatsapp-instances", None)
        .await;
    let of_b = app
        .admin(
            Method::GET,
            &format!("/api/v1/whatsapp-instances?tenant_id={b}"),
            None,
        )
        .await;
    let active = app
        .admin(
            Method::GET,
            "/api/v1/whatsapp-instances?is_active=true",
            None,
        )
        .await;
    let search_name = app
        .admin(
            Method::GET,
            "/api/v1/whatsapp-instances?search=PRINCIPAL",
            None,
        )
        .await;
    let search_phone = app
        .admin(Method::GET, "/api/v1/whatsapp-instances?search=98765", None)
        .await;
    let status = app
        .admin(
            Method::GET,
            "/api/v1/whatsapp-instances?connection_status=unknown",
            None,
        )
        .await;
    let page_two = app
        .admin(
            Method::GET,
            "/api/v1/whatsapp-instances?per_page=2&page=2",
            None,
        )
        .await;
    let literal = app
        .admin(Method::GET, "/api/v1/whatsapp-instances?search=%25", None)
        .await;

    let names = |reply: &Reply| -> Vec<String> {
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["instance_name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(all.body["meta"]["total"], 3);
    assert!(all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i.get("evolution_api_key").is_none()));
    assert_eq!(names(&of_b), ["sao_paulo"]);
    assert_eq!(names(&active), ["principal_campana", "sao_paulo"]);
    assert_eq!(names(&search_name), ["principal_campana"]);
    assert_eq!(names(&search_phone), ["secundaria", "sao_paulo"]);
    assert_eq!(status.body["meta"]["total"], 3);
    assert_eq!(
        page_two.body["meta"],
        json!({"total": 3, "current_page": 2, "last_page": 2, "per_page": 2})
    );
    assert_eq!(names(&page_two), ["sao_paulo"]);
    assert_eq!(
        literal.body["meta"]["total"], 0,
        "`%` is searched literally"
    );
}

async fn keys_are_encrypted_at_rest(backend: Backend) {
    use diesel::prelude::*;
    use relevo::db::schema::whatsapp_instances::dsl::*;
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.create_instance(tenant, &seed_create_body()).await;

    let stored: Vec<String> = whatsapp_instances
        .select(evolution_api_key_encrypted)
        .load(&mut app.db())
        .unwrap();

    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains("B6D9F2E8"),
        "the key is stored in clear: {}",
        stored[0]
    );
    assert!(stored[0].starts_with("v1:"));
}

/// The document's create and update bodies say what the server does: a `required` field
/// left out is refused, and a field takes `null` exactly where its schema is nullable.
async fn instance_bodies_take_null_exactly_where_the_document_says(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let document = serde_json::to_value(relevo::openapi::document()).unwrap();
    let schemas = &document["components"]["schemas"];
    let nullable = |property: &Value| {
        property["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("null")))
    };
    let mut created = 0;
    let mut unique_body = || {
        created += 1;
        let mut body = seed_create_body();
        body["phone_number"] = json!(format!("+57300555{created:04}"));
        body["instance_name"] = json!(format!("body_check_{created}"));
        body
    };

    let create = &schemas["CreateInstanceBody"];
    let required: Vec<&str> = create["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    for (field, property) in create["properties"].as_object().unwrap() {
        let mut left_out = unique_body();
        left_out.as_object_mut().unwrap().remove(field);
        let mut null = unique_body();
        null[field] = Value::Null;

        let left_out = app.create_instance(tenant, &left_out).await;
        let null = app.create_instance(tenant, &null).await;

        if required.contains(&field.as_str()) {
            assert_invalid_in(&left_out, &[field.as_str()], field);
        } else {
            assert_eq!(
                left_out.status,
                StatusCode::CREATED,
                "{field}: {}",
                left_out.body
            );
        }
        if nullable(property) {
            assert_eq!(null.status, StatusCode::CREATED, "{field}: {}", null.body);
        } else {
            assert_invalid_in(&null, &[field.as_str()], field);
        }
    }

    let update = &schemas["UpdateInstanceBody"];
    assert!(
        update.get("required").is_none(),
        "no update field is required"
    );
    let id = created_id(app.create_instance(tenant, &unique_body()).await);
    for (field, property) in update["properties"].as_object().unwrap() {
        let mut body = json!({ field: null });
        if field == "evolution_api_url" {
            // `null` moves the instance to the default server, another origin: its key
            // must come along.
            body["evolution_api_key"] = json!("clave-del-predeterminado");
        }
        let reply = app
            .admin(Method::PUT, &instance_path(tenant, id), Some(&body))
            .await;

        if nullable(property) {
            assert_eq!(reply.status, StatusCode::OK, "{field}: {}", reply.body);
            assert_eq!(reply.body["data"][field], Value::Null, "{field}");
        } else {
            assert_invalid_in(&reply, &[field.as_str()], field);
        }
    }
}

both_backends!(
    create_answers_201_with_the_seed_json,
    list_hides_keys_and_paginates_like_the_seed,
    show_includes_the_key_and_the_tenant,
    partial_update_changes_only_what_was_sent,
    toggle_active_flips_and_says_which_way,
    statistics_have_exactly_the_seed_shape,
    reset_counter_gives_back_the_whole_day,
    delete_answers_the_seed_message_and_the_instance_is_gone,
    an_instance_of_another_tenant_is_not_found,
    global_list_filters_and_paginates,
    keys_are_encrypted_at_rest,
    instance_bodies_take_null_exactly_where_the_document_says,
);
