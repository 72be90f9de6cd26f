//! An instance's phone is normalised and unique per tenant; its name is unique per
//! Evolution server: a 422 within the tenant, a 409 when another tenant holds it. On
//! create and on update.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::{assert_error, instance_path, instances_path, Backend};
use crate::spawn_or_skip;

async fn phone_is_normalised_and_unique_per_tenant(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let created = app
        .create_instance(
            tenant,
            &instance_with(json!({"phone_number": "+57 300 123 4567"})),
        )
        .await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["data"]["phone_number"], "+573001234567");
    let id = created.body["data"]["id"].as_i64().unwrap();
    assert_eq!(
        app.show_instance(tenant, id).await["phone_number"],
        "+573001234567",
        "stored normalised"
    );

    for (case, phone, name) in [
        ("same E.164", "+573001234567", "otra_1"),
        ("spaced", "+57 300 123 4567", "otra_2"),
        ("dashes and brackets", "+57 (300) 123-4567", "otra_3"),
    ] {
        let body = instance_with(json!({"phone_number": phone, "instance_name": name}));

        let reply = app.create_instance(tenant, &body).await;

        assert_unprocessable(
            &reply,
            &json!({"phone_number": [PHONE_TAKEN]}),
            PHONE_TAKEN,
            case,
        );
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        1,
        "the duplicates were not written"
    );
}

async fn the_same_phone_may_be_registered_by_another_tenant(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let first = app.seed_tenant().await;
    let second = app.tenant_named("otro-candidato", "UTC").await;
    app.instance(first, "+573001234567", "principal_a", 100)
        .await;

    let reply = app
        .create_instance(
            second,
            &instance_with(
                json!({"phone_number": "+573001234567", "instance_name": "principal_b"}),
            ),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["tenant_id"], second);
    assert_eq!(reply.body["data"]["phone_number"], "+573001234567");
}

/// Pairs of `evolution_api_url` values that name the same Evolution server.
fn same_server_urls() -> [(&'static str, Value, Value); 3] {
    [
        ("default server", Value::Null, Value::Null),
        (
            "same explicit server",
            json!("https://evo.example.com"),
            json!("https://evo.example.com"),
        ),
        (
            "same server, trailing slash",
            json!("https://evo2.example.com"),
            json!("https://evo2.example.com/"),
        ),
    ]
}

async fn duplicate_instance_name_in_the_same_tenant_and_server_is_422(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    for (i, (case, first_url, second_url)) in same_server_urls().into_iter().enumerate() {
        let name = format!("nombre_{i}");
        let first = instance_with(
            json!({"phone_number": format!("+57300123450{i}"), "instance_name": name, "evolution_api_url": first_url}),
        );
        assert_eq!(
            app.create_instance(tenant, &first).await.status,
            StatusCode::CREATED,
            "{case}"
        );
        let second = instance_with(
            json!({"phone_number": format!("+57300987650{i}"), "instance_name": name, "evolution_api_url": second_url}),
        );

        let reply = app.create_instance(tenant, &second).await;

        assert_unprocessable(
            &reply,
            &json!({"instance_name": [NAME_TAKEN]}),
            NAME_TAKEN,
            case,
        );
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        3,
        "only the first of each pair was written"
    );
}

async fn instance_name_owned_by_another_tenant_on_the_same_server_is_409(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let owner = app.seed_tenant().await;
    let other = app.tenant_named("otro-candidato", "UTC").await;
    for (i, (case, owner_url, other_url)) in same_server_urls().into_iter().enumerate() {
        let name = format!("compartido_{i}");
        let first = instance_with(
            json!({"phone_number": format!("+57300123450{i}"), "instance_name": name, "evolution_api_url": owner_url}),
        );
        assert_eq!(
            app.create_instance(owner, &first).await.status,
            StatusCode::CREATED,
            "{case}"
        );
        let second = instance_with(
            json!({"phone_number": format!("+57300987650{i}"), "instance_name": name, "evolution_api_url": other_url}),
        );

        let reply = app.create_instance(other, &second).await;

        assert_eq!(
            reply.status,
            StatusCode::CONFLICT,
            "[{case}] {}",
            reply.body
        );
        assert_eq!(
            reply.body,
            json!({
                "message": format!("The instance name `{name}` is already used by another tenant on this Evolution API server"),
                "error_key": "whatsapp.instance_name_taken",
                "error_params": {"instance_name": name},
            }),
            "[{case}]"
        );
    }
    assert_eq!(
        app.list_total(&instances_path(other)).await,
        0,
        "nothing was written for the other tenant"
    );
}

async fn the_same_instance_name_on_a_different_server_is_accepted(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let first = app.seed_tenant().await;
    let second = app.tenant_named("otro-candidato", "UTC").await;
    let existing = app
        .create_instance(first, &instance_with(json!({"instance_name": "principal", "evolution_api_url": "https://evo-a.example.com"})))
        .await;
    assert_eq!(existing.status, StatusCode::CREATED, "{}", existing.body);
    let cases = [
        (
            "same tenant, other server",
            first,
            "+573009876543",
            json!("https://evo-b.example.com"),
        ),
        (
            "same tenant, default server",
            first,
            "+573005555555",
            Value::Null,
        ),
        (
            "other tenant, third server",
            second,
            "+573001234567",
            json!("https://evo-c.example.com"),
        ),
    ];

    for (case, tenant, phone, url) in cases {
        let body = instance_with(
            json!({"phone_number": phone, "instance_name": "principal", "evolution_api_url": url}),
        );

        let reply = app.create_instance(tenant, &body).await;

        assert_eq!(reply.status, StatusCode::CREATED, "[{case}] {}", reply.body);
        assert_eq!(reply.body["data"]["instance_name"], "principal", "[{case}]");
        assert_eq!(reply.body["data"]["evolution_api_url"], url, "[{case}]");
    }
    assert_eq!(app.list_total("/api/v1/whatsapp-instances").await, 4);
}

async fn update_to_a_duplicate_phone_is_422(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573001234567", "principal", 1000)
        .await;
    let id = app
        .instance(tenant, "+573009876543", "secundaria", 500)
        .await;
    let before = app.show_instance(tenant, id).await;

    for phone in ["+573001234567", "+57 300 123 4567"] {
        let reply = app
            .admin(
                Method::PUT,
                &instance_path(tenant, id),
                Some(&json!({ "phone_number": phone })),
            )
            .await;

        assert_unprocessable(
            &reply,
            &json!({"phone_number": [PHONE_TAKEN]}),
            PHONE_TAKEN,
            phone,
        );
        assert_eq!(
            app.show_instance(tenant, id).await,
            before,
            "[{phone}] the row is unchanged"
        );
    }

    // Its own number is not a duplicate, and a new one is stored normalised.
    let own = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"phone_number": "+573009876543"})),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let new = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"phone_number": "+57 300 555 1234"})),
        )
        .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
    assert_eq!(new.body["data"]["phone_number"], "+573005551234");
}

async fn update_to_a_name_taken_on_the_server(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let other = app.tenant_named("otro-candidato", "UTC").await;
    app.instance(tenant, "+573001234567", "principal", 1000)
        .await;
    app.instance(other, "+573001234567", "ajena", 1000).await;
    let id = app
        .instance(tenant, "+573009876543", "secundaria", 500)
        .await;
    let before = app.show_instance(tenant, id).await;

    let own_tenant = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"instance_name": "principal"})),
        )
        .await;

    assert_unprocessable(
        &own_tenant,
        &json!({"instance_name": [NAME_TAKEN]}),
        NAME_TAKEN,
        "same tenant",
    );

    let other_tenant = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(&json!({"instance_name": "ajena"})),
        )
        .await;

    assert_error(
        &other_tenant,
        StatusCode::CONFLICT,
        "whatsapp.instance_name_taken",
    );
    assert_eq!(
        other_tenant.body["error_params"],
        json!({"instance_name": "ajena"})
    );
    assert_eq!(
        app.show_instance(tenant, id).await,
        before,
        "the row is unchanged"
    );

    let other_server = app
        .admin(
            Method::PUT,
            &instance_path(tenant, id),
            Some(
                &json!({"instance_name": "ajena", "evolution_api_url": "https://evo-b.example.com",
                         "evolution_api_key": "clave-b"}),
            ),
        )
        .await;
    assert_eq!(other_server.status, StatusCode::OK, "{}", other_server.body);
    assert_eq!(other_server.body["data"]["instance_name"], "ajena");
}

both_backends!(
    phone_is_normalised_and_unique_per_tenant,
    the_same_phone_may_be_registered_by_another_tenant,
    duplicate_instance_name_in_the_same_tenant_and_server_is_422,
    instance_name_owned_by_another_tenant_on_the_same_server_is_409,
    the_same_instance_name_on_a_different_server_is_accepted,
    update_to_a_duplicate_phone_is_422,
    update_to_a_name_taken_on_the_server,
);
