//! Bad input is a 422 naming every failing field (Laravel style), never a 400 and never a
//! partial write. Each table row is one request and the exact `errors` map it must produce.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    instance_path, instances_path, into_reply, spawn_app_with, Backend, Reply, TestApp, ADMIN_EMAIL,
};
use crate::spawn_or_skip;

// ---------------------------------------------------------------------------------------
// Messages, exactly as src/i18n.rs renders them (Spanish is the default locale).
// ---------------------------------------------------------------------------------------

const PHONE_FORMAT: &str =
    "El número de teléfono debe estar en formato internacional (ej: +573001234567)";
const PHONE_TAKEN: &str = "Este número de teléfono ya está registrado para este tenant";
const NAME_FORMAT: &str =
    "El nombre de instancia solo puede contener letras, números, guiones y guiones bajos (máximo 50 caracteres)";
const NAME_TAKEN: &str = "Este nombre de instancia ya está registrado en este servidor";
const LIMIT_MIN: &str = "El límite diario debe ser al menos 1";
const LIMIT_MAX: &str = "El límite diario no puede ser mayor que 100000";

fn required(field: &str) -> String {
    format!("El campo {field} es obligatorio.")
}

fn not_string(field: &str) -> String {
    format!("El campo {field} debe ser una cadena de texto.")
}

fn not_integer(field: &str) -> String {
    format!("El campo {field} debe ser un número entero.")
}

fn not_boolean(field: &str) -> String {
    format!("El campo {field} debe ser verdadero o falso.")
}

fn max_length(field: &str, n: usize) -> String {
    format!("El campo {field} no debe tener más de {n} caracteres.")
}

fn not_url(field: &str) -> String {
    format!("El campo {field} debe ser una URL http(s) válida.")
}

fn between(field: &str, a: i64, b: i64) -> String {
    format!("El campo {field} debe estar entre {a} y {b}.")
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A create body that passes every rule.
fn valid_instance() -> Value {
    json!({
        "phone_number": "+573001234567",
        "instance_name": "principal_campana",
        "evolution_api_key": "B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A",
        "daily_message_limit": 1000
    })
}

/// `base` with the fields of `overrides` set (a JSON `null` stays an explicit null).
fn with(base: Value, overrides: Value) -> Value {
    let mut body = base;
    for (key, value) in overrides.as_object().expect("overrides are an object") {
        body[key] = value.clone();
    }
    body
}

/// The valid create body with some fields replaced.
fn instance_with(overrides: Value) -> Value {
    with(valid_instance(), overrides)
}

/// Asserts a 422 with exactly `errors` (same fields, same messages, same field order)
/// and the summary `message`.
fn assert_unprocessable(reply: &Reply, errors: &Value, message: &str, case: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "[{case}] {}",
        reply.body
    );
    assert_eq!(
        reply.body["error_key"], "validation.failed",
        "[{case}] {}",
        reply.body
    );
    assert_eq!(&reply.body["errors"], errors, "[{case}] errors");
    let fields = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        fields(&reply.body["errors"]),
        fields(errors),
        "[{case}] field order"
    );
    assert_eq!(reply.body["message"], message, "[{case}] message");
}

/// Creates an instance once per case with `field` set to the case's value; each must be
/// a 422 naming only that field with `message`, and none may be written.
async fn assert_create_rejects_each(
    app: &TestApp,
    tenant: i64,
    field: &str,
    cases: &[(&str, &str)],
    message: &str,
) {
    for (case, value) in cases {
        let mut body = instance_with(json!({}));
        body[field] = json!(value);

        let reply = app.create_instance(tenant, &body).await;

        assert_unprocessable(&reply, &json!({ field: [message] }), message, case);
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

/// A request as the super admin with an `Accept-Language` header.
async fn admin_in(
    app: &TestApp,
    language: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> Reply {
    let response = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(&app.admin_token)
        .header("accept-language", language)
        .json(body)
        .send()
        .await
        .expect("request sent");
    into_reply(response).await
}

// ---------------------------------------------------------------------------------------
// Create: required fields, formats, types, bounds
// ---------------------------------------------------------------------------------------

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
    assert_ne!(data["id"], 4242);
    assert!(data.get("favourite_colour").is_none(), "{data}");
}

// ---------------------------------------------------------------------------------------
// Create: normalisation and uniqueness
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Languages and the summary message
// ---------------------------------------------------------------------------------------

async fn accept_language_switches_the_texts_but_not_the_error_key(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let cases = [
        (
            "es",
            json!({
                "phone_number": ["El campo phone_number es obligatorio."],
                "instance_name": ["El campo instance_name es obligatorio."],
                "evolution_api_key": ["El campo evolution_api_key es obligatorio."],
                "daily_message_limit": ["El campo daily_message_limit es obligatorio."],
            }),
            "El campo phone_number es obligatorio. (y 3 errores más)",
        ),
        (
            "en",
            json!({
                "phone_number": ["The phone_number field is required."],
                "instance_name": ["The instance_name field is required."],
                "evolution_api_key": ["The evolution_api_key field is required."],
                "daily_message_limit": ["The daily_message_limit field is required."],
            }),
            "The phone_number field is required. (and 3 more errors)",
        ),
        (
            "pt",
            json!({
                "phone_number": ["O campo phone_number é obrigatório."],
                "instance_name": ["O campo instance_name é obrigatório."],
                "evolution_api_key": ["O campo evolution_api_key é obrigatório."],
                "daily_message_limit": ["O campo daily_message_limit é obrigatório."],
            }),
            "O campo phone_number é obrigatório. (e mais 3 erros)",
        ),
        (
            "en-US,en;q=0.9",
            json!({
                "phone_number": ["The phone_number field is required."],
                "instance_name": ["The instance_name field is required."],
                "evolution_api_key": ["The evolution_api_key field is required."],
                "daily_message_limit": ["The daily_message_limit field is required."],
            }),
            "The phone_number field is required. (and 3 more errors)",
        ),
        (
            "de-DE (unsupported: the default, Spanish)",
            json!({
                "phone_number": ["El campo phone_number es obligatorio."],
                "instance_name": ["El campo instance_name es obligatorio."],
                "evolution_api_key": ["El campo evolution_api_key es obligatorio."],
                "daily_message_limit": ["El campo daily_message_limit es obligatorio."],
            }),
            "El campo phone_number es obligatorio. (y 3 errores más)",
        ),
        (
            "fr, pt-BR;q=0.8, en;q=0.5",
            json!({
                "phone_number": ["O campo phone_number é obrigatório."],
                "instance_name": ["O campo instance_name é obrigatório."],
                "evolution_api_key": ["O campo evolution_api_key é obrigatório."],
                "daily_message_limit": ["O campo daily_message_limit é obrigatório."],
            }),
            "O campo phone_number é obrigatório. (e mais 3 erros)",
        ),
    ];

    for (label, errors, message) in cases {
        let language = label.split(" (").next().unwrap();
        let reply = admin_in(
            &app,
            language,
            Method::POST,
            &instances_path(tenant),
            &json!({}),
        )
        .await;

        assert_unprocessable(&reply, &errors, message, label);
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
        assert_eq!(reply.body["error_key"], "validation.failed", "[{case}]");
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "[{case}] {}",
            reply.body
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

// ---------------------------------------------------------------------------------------
// Update
// ---------------------------------------------------------------------------------------

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

    assert_eq!(
        other_tenant.status,
        StatusCode::CONFLICT,
        "{}",
        other_tenant.body
    );
    assert_eq!(
        other_tenant.body["error_key"],
        "whatsapp.instance_name_taken"
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

// ---------------------------------------------------------------------------------------
// Tenants and users
// ---------------------------------------------------------------------------------------

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

/// A user name or password in a URL would be shown wherever the URL is; every URL field
/// refuses them.
async fn urls_with_credentials_are_refused(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573009876543", "existente", 500)
        .await;
    let message = |field: &str| format!("El campo {field} no puede incluir usuario ni contraseña.");
    let secret_url = "https://admin:s3cret@evo.example.com";
    let cases = [
        (
            "instance create",
            Method::POST,
            instances_path(tenant),
            instance_with(json!({"evolution_api_url": secret_url})),
            "evolution_api_url",
        ),
        (
            "instance update",
            Method::PUT,
            instance_path(tenant, id),
            json!({"evolution_api_url": "https://token@evo.example.com"}),
            "evolution_api_url",
        ),
        (
            "tenant callback",
            Method::PUT,
            format!("/api/v1/tenants/{tenant}"),
            json!({"callback_url": "https://user:pass@hooks.example.com/relevo"}),
            "callback_url",
        ),
        (
            "evolution server",
            Method::POST,
            "/api/v1/evolution-servers".to_string(),
            json!({"name": "Principal", "base_url": secret_url, "api_key": "k"}),
            "base_url",
        ),
    ];
    for (case, method, path, body, field) in cases {
        let reply = app.admin(method, &path, Some(&body)).await;

        let text = message(field);
        assert_unprocessable(&reply, &json!({ field: [&text] }), &text, case);
        assert!(!reply.body.to_string().contains("s3cret"), "[{case}]");
    }
    assert_eq!(app.list_total("/api/v1/evolution-servers").await, 0);
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

// ---------------------------------------------------------------------------------------
// List queries
// ---------------------------------------------------------------------------------------

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
    phone_is_normalised_and_unique_per_tenant,
    the_same_phone_may_be_registered_by_another_tenant,
    duplicate_instance_name_in_the_same_tenant_and_server_is_422,
    instance_name_owned_by_another_tenant_on_the_same_server_is_409,
    the_same_instance_name_on_a_different_server_is_accepted,
    accept_language_switches_the_texts_but_not_the_error_key,
    relevo_locale_sets_the_language_when_the_request_names_none,
    seed_rule_messages_are_translated,
    update_validates_like_create_and_writes_nothing,
    update_accepts_a_partial_body,
    update_null_clears_notes_but_is_required_for_required_fields,
    update_to_a_duplicate_phone_is_422,
    update_to_a_name_taken_on_the_server,
    tenant_creation_is_validated,
    tenant_slug_must_be_unique,
    whatsapp_unit_price_is_an_exact_bounded_decimal,
    urls_with_credentials_are_refused,
    tenant_update_is_validated_and_writes_nothing,
    user_creation_is_validated,
    list_query_parameters_are_validated,
);
