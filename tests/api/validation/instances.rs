//! Creating an instance: every required field, format, type and bound of the body, each
//! refused with a 422 that names the field and writes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::both_backends;
use crate::helpers::{assert_error, instance_path, instances_path, valid_instance, Backend};
use crate::spawn_or_skip;

async fn create_without_required_fields_lists_every_one_in_order(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let every_required = json!({
        "phone_number": [required("phone_number")],
        "instance_name": [required("instance_name")],
        "evolution_api_key": [required("evolution_api_key")],
        "daily_message_limit": [required("daily_message_limit")],
    });
    let cases = [
        ("empty object", json!({})),
        (
            "explicit nulls",
            json!({"phone_number": null, "instance_name": null, "evolution_api_key": null, "daily_message_limit": null}),
        ),
        (
            "blank strings count as missing",
            json!({"phone_number": "", "instance_name": "  ", "evolution_api_key": "", "daily_message_limit": ""}),
        ),
        (
            "only optional fields",
            json!({"notes": "hola", "is_active": true, "evolution_api_url": null}),
        ),
    ];

    for (case, body) in cases {
        let reply = app.create_instance(tenant, &body).await;

        assert_unprocessable(
            &reply,
            &every_required,
            "El campo phone_number es obligatorio. (y 3 errores más)",
            case,
        );
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

async fn create_with_one_missing_field_names_only_that_field(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    for field in [
        "phone_number",
        "instance_name",
        "evolution_api_key",
        "daily_message_limit",
    ] {
        let mut body = valid_instance();
        body.as_object_mut().unwrap().remove(field);

        let reply = app.create_instance(tenant, &body).await;

        assert_unprocessable(
            &reply,
            &json!({ field: [required(field)] }),
            &required(field),
            field,
        );
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

async fn create_rejects_phone_numbers_that_are_not_e164(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let cases = [
        ("without +", "573001234567"),
        ("national format", "3001234567"),
        ("invalid country code", "+999123456789"),
        ("too short", "+57300"),
        ("too long", "+5730012345678901"),
        ("only a plus", "+"),
        ("slashes libphonenumber would read", "+57/300/123/4567"),
        ("digits of another script", "+٥٧٣٠٠١٢٣٤٥٦٧"),
    ];

    assert_create_rejects_each(&app, tenant, "phone_number", &cases, PHONE_FORMAT).await;
}

async fn wrong_json_types_are_422_naming_the_field_not_400(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "phone_number",
            json!(573001234567_i64),
            not_string("phone_number"),
        ),
        (
            "phone_number",
            json!(["+573001234567"]),
            not_string("phone_number"),
        ),
        ("instance_name", json!(true), not_string("instance_name")),
        (
            "instance_name",
            json!({"name": "x"}),
            not_string("instance_name"),
        ),
        (
            "evolution_api_key",
            json!(12345),
            not_string("evolution_api_key"),
        ),
        (
            "evolution_api_url",
            json!(["https://evo.example.com"]),
            not_string("evolution_api_url"),
        ),
        (
            "daily_message_limit",
            json!("abc"),
            not_integer("daily_message_limit"),
        ),
        (
            "daily_message_limit",
            json!(1.5),
            not_integer("daily_message_limit"),
        ),
        (
            "daily_message_limit",
            json!(true),
            not_integer("daily_message_limit"),
        ),
        (
            "daily_message_limit",
            json!([1000]),
            not_integer("daily_message_limit"),
        ),
        ("is_active", json!("maybe"), not_boolean("is_active")),
        ("is_active", json!(2), not_boolean("is_active")),
        ("is_active", json!({}), not_boolean("is_active")),
        ("notes", json!(5), not_string("notes")),
        ("notes", json!(false), not_string("notes")),
    ];

    for (field, value, message) in cases {
        let case = format!("{field} = {value}");

        let reply = app
            .create_instance(tenant, &instance_with(json!({ field: value })))
            .await;

        assert_unprocessable(
            &reply,
            &json!({ field: [message.clone()] }),
            &message,
            &case,
        );
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

async fn every_field_of_the_wrong_type_is_reported_at_once(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = json!({
        "phone_number": 573001234567_i64,
        "instance_name": 7,
        "evolution_api_key": false,
        "evolution_api_url": 80,
        "daily_message_limit": "abc",
        "is_active": "maybe",
        "notes": 5,
    });

    let reply = app.create_instance(tenant, &body).await;

    let errors = json!({
        "phone_number": [not_string("phone_number")],
        "instance_name": [not_string("instance_name")],
        "evolution_api_key": [not_string("evolution_api_key")],
        "evolution_api_url": [not_string("evolution_api_url")],
        "daily_message_limit": [not_integer("daily_message_limit")],
        "is_active": [not_boolean("is_active")],
        "notes": [not_string("notes")],
    });
    let message = format!("{} (y 6 errores más)", not_string("phone_number"));
    assert_unprocessable(&reply, &errors, &message, "all wrong");
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

async fn daily_message_limit_must_be_between_1_and_100000(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let rejected = [
        (0, LIMIT_MIN),
        (-1, LIMIT_MIN),
        (-100000, LIMIT_MIN),
        (100001, LIMIT_MAX),
        (5_000_000_000_i64, LIMIT_MAX),
    ];

    for (limit, message) in rejected {
        let reply = app
            .create_instance(
                tenant,
                &instance_with(json!({ "daily_message_limit": limit })),
            )
            .await;

        assert_unprocessable(
            &reply,
            &json!({"daily_message_limit": [message]}),
            message,
            &limit.to_string(),
        );
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );

    let accepted = [
        (1, "+573001234567", "limite_minimo"),
        (100000, "+573009876543", "limite_maximo"),
    ];
    for (limit, phone, name) in accepted {
        let body = json!({"phone_number": phone, "instance_name": name, "evolution_api_key": "k", "daily_message_limit": limit});

        let reply = app.create_instance(tenant, &body).await;

        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "limit {limit}: {}",
            reply.body
        );
        assert_eq!(reply.body["data"]["daily_message_limit"], limit);
        assert_eq!(reply.body["data"]["remaining_quota"], limit);
    }
    assert_eq!(app.list_total(&instances_path(tenant)).await, 2);
}

async fn notes_are_limited_to_1000_characters(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let too_long = app
        .create_instance(tenant, &instance_with(json!({"notes": "a".repeat(1001)})))
        .await;

    let message = max_length("notes", 1000);
    assert_unprocessable(
        &too_long,
        &json!({"notes": [message.clone()]}),
        &message,
        "1001 chars",
    );
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );

    // Characters, not bytes: 1000 × "ñ" is 2000 bytes and still allowed.
    let accepted = [
        ("+573001234567", "notas_ascii", "a".repeat(1000)),
        ("+573009876543", "notas_enie", "ñ".repeat(1000)),
    ];
    for (phone, name, notes) in accepted {
        let body = json!({"phone_number": phone, "instance_name": name, "evolution_api_key": "k",
                          "daily_message_limit": 10, "notes": notes});

        let reply = app.create_instance(tenant, &body).await;

        assert_eq!(reply.status, StatusCode::CREATED, "{name}: {}", reply.body);
        assert_eq!(reply.body["data"]["notes"], notes.as_str(), "{name}");
    }
}

async fn instance_name_must_match_the_evolution_pattern(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let long = "x".repeat(51);
    let cases = [
        ("spaces", "principal campana"),
        ("51 characters", long.as_str()),
        ("accents", "campaña"),
        ("slash", "a/b"),
        ("dot", "principal.campana"),
    ];

    assert_create_rejects_each(&app, tenant, "instance_name", &cases, NAME_FORMAT).await;

    let fifty = "x".repeat(50);
    let reply = app
        .create_instance(tenant, &instance_with(json!({ "instance_name": fifty })))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["instance_name"], fifty.as_str());
}

async fn evolution_api_url_must_be_an_http_url(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let cases = [
        ("ftp scheme", "ftp://evolution.midominio.com"),
        ("no scheme", "evolution.midominio.com"),
        ("not a url", "not a url"),
        ("javascript", "javascript:alert(1)"),
        ("no host", "https://"),
        ("not RFC 3986", "https://evo.example.com#\u{ac}w"),
        (
            "a host WHATWG would rewrite",
            "https://évolution.example.com",
        ),
        ("a host ending in a number", "https://evo.example.123"),
    ];

    let message = not_url("evolution_api_url");
    assert_create_rejects_each(&app, tenant, "evolution_api_url", &cases, &message).await;

    let reply = app
        .create_instance(
            tenant,
            &instance_with(json!({"evolution_api_url": "http://10.0.0.5:8080"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["evolution_api_url"],
        "http://10.0.0.5:8080"
    );
}

async fn unknown_fields_are_ignored(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = instance_with(json!({
        "favourite_colour": "verde",
        "tenant_id": tenant + 1000,
        "messages_sent_today": 999,
        "id": 4242,
    }));

    let reply = app.create_instance(tenant, &body).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(
        data["tenant_id"], tenant,
        "tenant comes from the path, not the body"
    );
    assert_eq!(data["messages_sent_today"], 0);
    assert!(data.get("favourite_colour").is_none(), "{data}");
    // The id is the database's: the instance answers under it, and none under the body's.
    let id = data["id"].as_i64().expect("an id");
    assert_eq!(app.show_instance(tenant, id).await, *data);
    let not_taken = app
        .admin(Method::GET, &instance_path(tenant, 4242), None)
        .await;
    assert_error(
        &not_taken,
        StatusCode::NOT_FOUND,
        "whatsapp.instance_not_found",
    );
}

both_backends!(
    create_without_required_fields_lists_every_one_in_order,
    create_with_one_missing_field_names_only_that_field,
    create_rejects_phone_numbers_that_are_not_e164,
    wrong_json_types_are_422_naming_the_field_not_400,
    every_field_of_the_wrong_type_is_reported_at_once,
    daily_message_limit_must_be_between_1_and_100000,
    notes_are_limited_to_1000_characters,
    instance_name_must_match_the_evolution_pattern,
    evolution_api_url_must_be_an_http_url,
    unknown_fields_are_ignored,
);
