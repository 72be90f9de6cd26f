//! Requests that never reach validation: bodies that are not JSON objects, bodies that are
//! too large, paths that name nothing. Every answer is a JSON error with a stable
//! `error_key`, and every response carries an `X-Request-Id`.

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    assert_error, assert_error_in, instance_path, instances_path, into_reply, spawn_app_with,
    valid_instance, Backend, Reply, TestApp,
};
use crate::spawn_or_skip;

const NOT_JSON_CONTENT_TYPE: &str =
    "The request body must be JSON sent with Content-Type: application/json.";
const NOT_AN_OBJECT: &str = "The request body must be a JSON object.";
const NOT_VALID_JSON: &str = "The request body is not valid JSON";

/// A request as the super admin, to be finished with a body or headers.
fn admin_request(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(&app.admin_token)
}

async fn send(request: RequestBuilder) -> Reply {
    into_reply(request.send().await.expect("request sent")).await
}

/// A raw body sent to `path` with the given content type (`None`: no header at all).
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let mut request = admin_request(app, method, path).body(body.to_string());
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    send(request).await
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
}

/// An error that takes no parameters: [`assert_error_in`], and the body is exactly
/// `{"message", "error_key"}`.
fn assert_bare_error(reply: &Reply, status: StatusCode, error_key: &str, case: &str) {
    assert_error_in(reply, status, error_key, case);
    assert_eq!(reply.body.get("error_params"), None, "[{case}]");
}

/// A 404 whose body is exactly `expected`.
#[track_caller]
fn assert_not_found_as(reply: &Reply, expected: &Value, case: &str) {
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "[{case}] {}",
        reply.body
    );
    assert_eq!(&reply.body, expected, "[{case}]");
}

/// Every endpoint of the instance `id` of `tenant`, `update` the body of its update: a
/// request, a path and a body each.
fn instance_endpoints(
    tenant: i64,
    id: impl std::fmt::Display,
    update: &Value,
) -> [(Method, String, Option<&Value>); 6] {
    let path = instance_path(tenant, id);
    [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(update)),
        (Method::POST, format!("{path}/toggle-active"), None),
        (Method::POST, format!("{path}/reset-counter"), None),
        (Method::GET, format!("{path}/statistics"), None),
        (Method::DELETE, path, None),
    ]
}

// ---------------------------------------------------------------------------------------
// 400: the body is not a JSON object
// ---------------------------------------------------------------------------------------

async fn malformed_json_is_400_request_malformed(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let cases = [
        (
            "truncated",
            r#"{"phone_number": "+573001234567", "instance_name": "#,
        ),
        ("trailing comma", r#"{"phone_number": "+573001234567",}"#),
        ("single quotes", r#"{'phone_number': '+573001234567'}"#),
        ("unquoted key", r#"{phone_number: "+573001234567"}"#),
        ("plain words", "not json at all"),
        ("empty body", ""),
        ("two objects", r#"{"a": 1} {"b": 2}"#),
    ];

    for (case, body) in cases {
        let reply = raw(
            &app,
            Method::POST,
            &instances_path(tenant),
            Some("application/json"),
            body,
        )
        .await;

        assert_bare_error(&reply, StatusCode::BAD_REQUEST, "request.malformed", case);
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.starts_with(NOT_VALID_JSON), "[{case}] {message}");
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

async fn json_that_is_not_an_object_is_400(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573009876543", "existente", 500)
        .await;
    let before = app.show_instance(tenant, id).await;
    let cases = [
        ("empty array", "[]"),
        (
            "array of the fields in order",
            r#"["+573001234567", "principal_campana", "key", null, 1000]"#,
        ),
        ("array of numbers", "[1, 2]"),
        ("null", "null"),
        ("string", r#""+573001234567""#),
        ("number", "42"),
        ("boolean", "true"),
    ];

    let mut wrong = Vec::new();
    for (case, body) in cases {
        for (method, path) in [
            (Method::POST, instances_path(tenant)),
            (Method::PUT, instance_path(tenant, id)),
        ] {
            let case = format!("{method} {case}");

            let reply = raw(&app, method, &path, Some("application/json"), body).await;

            let expected = json!({"message": NOT_AN_OBJECT, "error_key": "request.malformed"});
            if reply.status != StatusCode::BAD_REQUEST || reply.body != expected {
                wrong.push(format!("[{case}] {} {}", reply.status, reply.body));
            }
        }
    }
    let created = app.list_total(&instances_path(tenant)).await;
    let after = app.show_instance(tenant, id).await;
    assert!(
        wrong.is_empty(),
        "expected 400 request.malformed for:\n{}",
        wrong.join("\n")
    );
    assert_eq!(created, 1, "nothing was created");
    assert_eq!(after, before, "nothing was updated");
}

async fn a_body_without_the_json_content_type_is_400(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = valid_instance().to_string();
    let cases = [
        ("text/plain", Some("text/plain")),
        ("text/plain with charset", Some("text/plain; charset=utf-8")),
        ("form", Some("application/x-www-form-urlencoded")),
        ("xml", Some("application/xml")),
        ("no content type", None),
    ];

    for (case, content_type) in cases {
        let reply = raw(
            &app,
            Method::POST,
            &instances_path(tenant),
            content_type,
            &body,
        )
        .await;

        assert_bare_error(&reply, StatusCode::BAD_REQUEST, "request.malformed", case);
        assert_eq!(reply.body["message"], NOT_JSON_CONTENT_TYPE, "[{case}]");
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );

    // The same body with the JSON content type (and a charset) is accepted.
    let reply = raw(
        &app,
        Method::POST,
        &instances_path(tenant),
        Some("application/json; charset=utf-8"),
        &body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

// ---------------------------------------------------------------------------------------
// 413: the body is larger than 64 KiB
// ---------------------------------------------------------------------------------------

async fn bodies_over_64_kib_are_413(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573009876543", "existente", 500)
        .await;
    let before = app.show_instance(tenant, id).await;
    let mut huge_instance = valid_instance();
    huge_instance["notes"] = json!("n".repeat(70_000));
    let huge_tenant = json!({"nombre": "x".repeat(70_000)});
    let cases = [
        (
            "create instance",
            Method::POST,
            instances_path(tenant),
            &huge_instance,
        ),
        (
            "update instance",
            Method::PUT,
            instance_path(tenant, id),
            &huge_instance,
        ),
        (
            "create tenant",
            Method::POST,
            "/api/v1/tenants".to_string(),
            &huge_tenant,
        ),
    ];

    for (case, method, path, body) in cases {
        let reply = app.admin(method, &path, Some(body)).await;

        assert_bare_error(
            &reply,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            case,
        );
        assert_eq!(
            reply.body,
            json!({"message": "The request body is larger than 64 KiB.", "error_key": "request.too_large"}),
            "[{case}]"
        );
    }
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        1,
        "nothing was created"
    );
    assert_eq!(
        app.show_instance(tenant, id).await,
        before,
        "nothing was updated"
    );
}

/// The limit holds for a chunked body too, whose size is not announced up front.
async fn a_chunked_body_over_64_kib_is_413(backend: Backend) {
    use std::io::{Read, Write};
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let mut body = valid_instance();
    body["notes"] = json!("n".repeat(70_000));
    let host = app.address.trim_start_matches("http://").to_string();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        instances_path(tenant),
        app.admin_token
    );
    let payload = body.to_string();

    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&host).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        for chunk in payload.as_bytes().chunks(8 * 1024) {
            // The server may answer and stop reading before the last chunk.
            if stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .is_err()
                || stream.write_all(chunk).is_err()
                || stream.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("raw request");

    let status_line = answer.lines().next().unwrap_or_default();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    assert!(
        answer.contains(r#""error_key":"request.too_large""#),
        "{answer}"
    );
    assert_eq!(
        app.list_total(&instances_path(tenant)).await,
        0,
        "nothing was written"
    );
}

async fn a_body_just_under_64_kib_reaches_validation(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let mut body = valid_instance();
    body["notes"] = json!("n".repeat(60_000));
    assert!(body.to_string().len() < 64 * 1024);

    let reply = app.create_instance(tenant, &body).await;

    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        reply.body["errors"],
        json!({"notes": ["El campo notes no debe tener más de 1000 caracteres."]})
    );
}

// ---------------------------------------------------------------------------------------
// 404: nothing at that path
// ---------------------------------------------------------------------------------------

async fn unknown_routes_are_404_json(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let expected =
        json!({"message": "The requested route does not exist", "error_key": "route.not_found"});
    let cases = [
        (Method::GET, "/api/v1/nope".to_string(), true),
        (Method::GET, "/api/v1/nope".to_string(), false),
        (Method::GET, "/nope".to_string(), false),
        (Method::GET, "/api/v2/tenants".to_string(), true),
        (
            Method::POST,
            "/api/v1/whatsapp-instances/extra/segments".to_string(),
            true,
        ),
        (
            Method::GET,
            format!("{}/1/statistics/more", instances_path(tenant)),
            true,
        ),
    ];

    for (method, path, authenticated) in cases {
        let case = format!("{method} {path} (token: {authenticated})");
        let mut request = app.client.request(method, format!("{}{path}", app.address));
        if authenticated {
            request = request.bearer_auth(&app.admin_token);
        }

        let reply = send(request).await;

        assert_bare_error(&reply, StatusCode::NOT_FOUND, "route.not_found", &case);
        assert_eq!(reply.body, expected, "[{case}]");
    }
}

async fn a_non_numeric_instance_id_is_404_json(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = json!({"notes": "x"});
    let mut cases = instance_endpoints(tenant, "abc", &body).to_vec();
    cases.extend([
        (Method::GET, instance_path(tenant, "1.5"), None),
        (
            Method::GET,
            instance_path(tenant, "99999999999999999999999"),
            None,
        ),
    ]);

    for (method, path, body) in cases {
        let case = format!("{method} {path}");

        let reply = app.admin(method, &path, body).await;

        assert_bare_error(&reply, StatusCode::NOT_FOUND, "route.not_found", &case);
    }
}

async fn a_missing_instance_is_404_with_the_seed_body(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let other = app.tenant_named("otro-candidato", "UTC").await;
    let foreign = app.instance(other, "+573001234567", "ajena", 100).await;
    let foreign_before = app.show_instance(other, foreign).await;
    let expected = json!({"message": "WhatsApp instance not found", "error_key": "whatsapp.instance_not_found"});
    let update = json!({"notes": "cambio"});
    let invalid_update = json!({"daily_message_limit": 0});

    for id in [999_999, foreign] {
        let mut cases = instance_endpoints(tenant, id, &update).to_vec();
        cases.push((
            Method::PUT,
            instance_path(tenant, id),
            Some(&invalid_update),
        ));
        for (method, path, body) in cases {
            let case = format!("{method} {path}");

            let reply = app.admin(method, &path, body).await;

            assert_not_found_as(&reply, &expected, &case);
        }
    }
    assert_eq!(
        app.show_instance(other, foreign).await,
        foreign_before,
        "the other tenant's instance is untouched"
    );
}

async fn a_missing_tenant_is_404_tenant_not_found(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573001234567", "principal", 100)
        .await;
    let expected = json!({"message": "Tenant not found", "error_key": "tenant.not_found"});
    let instance = valid_instance();
    let cases = [
        (Method::GET, "/api/v1/tenants/999999".to_string(), None),
        (
            Method::GET,
            "/api/v1/tenants/no-such-tenant".to_string(),
            None,
        ),
        (
            Method::PUT,
            "/api/v1/tenants/999999".to_string(),
            Some(json!({"nombre": "Otro"})),
        ),
        (
            Method::DELETE,
            "/api/v1/tenants/no-such-tenant".to_string(),
            None,
        ),
        (Method::GET, instances_path(999_999), None),
        (
            Method::POST,
            instances_path(999_999),
            Some(instance.clone()),
        ),
        (
            Method::POST,
            "/api/v1/tenants/no-such-tenant/whatsapp-instances".to_string(),
            Some(json!({})),
        ),
        // The instance exists, but not under that tenant.
        (Method::GET, instance_path(999_999, id), None),
        (
            Method::PUT,
            instance_path(999_999, id),
            Some(json!({"notes": "x"})),
        ),
    ];

    for (method, path, body) in cases {
        let case = format!("{method} {path}");

        let reply = app.admin(method, &path, body.as_ref()).await;

        assert_not_found_as(&reply, &expected, &case);
    }
}

// ---------------------------------------------------------------------------------------
// A NUL character anywhere: 422 in a body or a query, 404 in a path; never a 500
// ---------------------------------------------------------------------------------------

async fn a_nul_character_is_refused_in_bodies_queries_and_paths(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let id = app
        .instance(tenant, "+573009876543", "existente", 500)
        .await;
    let sender = app.sender_token(tenant).await;
    let server = app
        .admin(
            Method::POST,
            "/api/v1/evolution-servers",
            Some(&json!({"name": "Principal", "base_url": "https://evo.example.com", "api_key": "k"})),
        )
        .await;
    let server = server.body["data"]["id"].as_i64().unwrap();
    let nul = "a\u{0}b";
    let instance = instance_path(tenant, id);
    let bodies: Vec<(&str, Method, String, Value, &str)> = vec![
        (
            "login",
            Method::POST,
            "/api/v1/auth/login".into(),
            json!({"email": nul, "password": "x"}),
            "email",
        ),
        (
            "user",
            Method::POST,
            "/api/v1/users".into(),
            json!({"email": "ana@example.com", "password": nul, "role": "super_admin"}),
            "password",
        ),
        (
            "tenant create",
            Method::POST,
            "/api/v1/tenants".into(),
            json!({"nombre": nul}),
            "nombre",
        ),
        (
            "tenant update",
            Method::PUT,
            format!("/api/v1/tenants/{tenant}"),
            json!({"tipo_cargo": nul}),
            "tipo_cargo",
        ),
        (
            "instance create",
            Method::POST,
            instances_path(tenant),
            json!({"notes": nul}),
            "notes",
        ),
        (
            "instance update",
            Method::PUT,
            instance.clone(),
            json!({"notes": nul}),
            "notes",
        ),
        (
            "provision",
            Method::POST,
            format!("{}/provision", instances_path(tenant)),
            json!({"instance_name": nul}),
            "instance_name",
        ),
        (
            "connect",
            Method::POST,
            format!("{instance}/connect"),
            json!({"phone_number": nul}),
            "phone_number",
        ),
        (
            "webhook",
            Method::PUT,
            format!("{instance}/webhook"),
            json!({"url": "https://x.example.com", "events": ["QRCODE_UPDATED", nul]}),
            "events",
        ),
        (
            "websocket",
            Method::PUT,
            format!("{instance}/websocket"),
            json!({"enabled": true, "events": [nul]}),
            "events",
        ),
        (
            "sender token",
            Method::POST,
            format!("/api/v1/tenants/{tenant}/sender-tokens"),
            json!({"name": nul}),
            "name",
        ),
        (
            "server create",
            Method::POST,
            "/api/v1/evolution-servers".into(),
            json!({"name": nul, "base_url": "https://b.example.com", "api_key": "k"}),
            "name",
        ),
        (
            "server update",
            Method::PUT,
            format!("/api/v1/evolution-servers/{server}"),
            json!({"api_key": nul}),
            "api_key",
        ),
        (
            "a key with a NUL",
            Method::PUT,
            format!("/api/v1/tenants/{tenant}"),
            json!({"x\u{0}": 1}),
            "x\u{0}",
        ),
    ];
    for (case, method, path, body, field) in bodies {
        let reply = app.admin(method, &path, Some(&body)).await;

        assert_error_in(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
            case,
        );
        assert!(
            reply.body["errors"][field].is_array(),
            "[{case}] {}",
            reply.body
        );
    }
    let sender_bodies = [
        (
            "claim",
            format!("/api/v1/tenants/{tenant}/sender/claim"),
            json!({"idempotency_key": nul}),
            "idempotency_key",
        ),
        (
            "release",
            format!("/api/v1/tenants/{tenant}/sender/claims/x/release"),
            json!({"count": nul}),
            "count",
        ),
    ];
    for (case, path, body, field) in sender_bodies {
        let reply = app
            .send(Method::POST, &path, Some(&sender), Some(&body))
            .await;

        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
        );
        assert!(
            reply.body["errors"][field].is_array(),
            "[{case}] {}",
            reply.body
        );
    }

    let queries = [
        ("/api/v1/whatsapp-instances?search=a%00b", "search"),
        (
            "/api/v1/whatsapp-instances?connection_status=%00",
            "connection_status",
        ),
        ("/api/v1/tenants?page=1%00", "page"),
        ("/api/v1/users?per_page=%00&page=1", "per_page"),
        ("/api/v1/whatsapp-instances?a%00=1", "a\u{0}"),
    ];
    for (path, field) in queries {
        let reply = app.admin(Method::GET, path, None).await;

        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation.failed",
        );
        assert!(
            reply.body["errors"][field].is_array(),
            "[{path}] {}",
            reply.body
        );
    }
    let deleted = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/tenants/{tenant}?force=%00"),
            None,
        )
        .await;
    assert_eq!(
        deleted.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        deleted.body
    );

    let paths = [
        (Method::GET, "/api/v1/tenants/%00".to_string()),
        (
            Method::GET,
            "/api/v1/tenants/candidato%00/statistics".to_string(),
        ),
        (Method::PUT, format!("/api/v1/tenants/{tenant}%00")),
        (Method::GET, format!("{}/%00", instances_path(tenant))),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{tenant}/sender-tokens/1%00"),
        ),
        (Method::GET, "/api/v1/users/%00".to_string()),
    ];
    for (method, path) in paths {
        let reply = app.admin(method.clone(), &path, Some(&json!({}))).await;

        assert_bare_error(
            &reply,
            StatusCode::NOT_FOUND,
            "route.not_found",
            &format!("{method} {path}"),
        );
    }
    let released = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/sender/claims/x%00y/release"),
            Some(&sender),
            Some(&json!({})),
        )
        .await;
    assert_bare_error(
        &released,
        StatusCode::NOT_FOUND,
        "route.not_found",
        "claim id",
    );
    assert_eq!(
        app.list_total("/api/v1/tenants").await,
        1,
        "nothing was written"
    );
}

// ---------------------------------------------------------------------------------------
// 405: a documented path with a method it does not take
// ---------------------------------------------------------------------------------------

async fn every_documented_path_answers_405_to_other_methods(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let document = app
        .send(Method::GET, "/api-docs/openapi.json", None, None)
        .await
        .body;
    let known = ["get", "post", "put", "patch", "delete"];
    let mut checked = 0;
    for (template, item) in document["paths"].as_object().unwrap() {
        let declared: Vec<String> = known
            .iter()
            .filter(|method| item.get(**method).is_some())
            .map(|method| method.to_uppercase())
            .collect();
        let mut allow = declared.clone();
        allow.sort();
        let path = template
            .replace("{tenant}", &tenant.to_string())
            .replace("{claim_id}", "some-claim")
            .replace("{id}", "1");
        for method in known.iter().map(|m| m.to_uppercase()) {
            if declared.contains(&method) {
                continue;
            }
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            for token in [Some(app.admin_token.as_str()), None] {
                let case = format!("{method} {template} (token: {})", token.is_some());

                let reply = app
                    .send(method.clone(), &path, token, Some(&json!({})))
                    .await;

                assert_bare_error(
                    &reply,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "route.method_not_allowed",
                    &case,
                );
                let header = reply
                    .headers
                    .get("allow")
                    .map(|v| v.to_str().unwrap().to_string());
                assert_eq!(header, Some(allow.join(", ")), "[{case}]");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} requests");

    // The tenant-implicit form of an action seed 001 writes but Relevo does not serve
    // (tenant users only read): no such route, whatever the method.
    let patch = app
        .admin(
            Method::PATCH,
            "/api/v1/tenant/whatsapp-instances/1/toggle-active",
            None,
        )
        .await;
    assert_bare_error(
        &patch,
        StatusCode::NOT_FOUND,
        "route.not_found",
        "tenant-implicit",
    );
}

// ---------------------------------------------------------------------------------------
// 408: a body that trickles in is cut off
// ---------------------------------------------------------------------------------------

/// actix-web's client request timeout covers the headers only; a body sent one byte at a
/// time, steadily enough for any idle timeout, must still end at the body deadline.
async fn a_body_that_trickles_in_is_cut_off_with_408(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(app) = spawn_app_with(backend, &[("RELEVO_BODY_TIMEOUT_MS", "400")]).await else {
        return;
    };
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/tenants HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        app.admin_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();

    let (mut reader, mut writer) = stream.into_split();
    let trickle = async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        for byte in std::iter::repeat(b' ') {
            tick.tick().await;
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
        }
    };
    let mut answer = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    };
    let guard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        tokio::select! {
            _ = trickle => {},
            _ = read => {},
        }
    });
    guard
        .await
        .expect("the server answered before the client gave up");

    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    assert!(
        answer.contains(r#""error_key":"request.timeout""#),
        "{answer}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(app.list_total("/api/v1/tenants").await, 0);
}

// ---------------------------------------------------------------------------------------
// Every error is JSON; every response has a request id
// ---------------------------------------------------------------------------------------

async fn every_error_body_is_json(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let other = app.tenant_named("otro-candidato", "UTC").await;
    app.instance(other, "+573001234567", "ajena", 100).await;
    let tenant_user = app.tenant_user_token(tenant, "ana@example.com").await;
    let url = |path: &str| format!("{}{path}", app.address);
    let mut big = valid_instance();
    big["notes"] = json!("n".repeat(70_000));
    let cases: Vec<(&str, RequestBuilder, StatusCode)> = vec![
        (
            "400 malformed",
            admin_request(&app, Method::POST, &instances_path(tenant)).header(CONTENT_TYPE, "application/json").body("{"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "400 content type",
            admin_request(&app, Method::POST, &instances_path(tenant)).header(CONTENT_TYPE, "text/plain").body("{}"),
            StatusCode::BAD_REQUEST,
        ),
        ("401 no token", app.client.get(url("/api/v1/tenants")), StatusCode::UNAUTHORIZED),
        ("401 bad token", app.client.get(url("/api/v1/tenants")).bearer_auth("not-a-jwt"), StatusCode::UNAUTHORIZED),
        (
            "403 tenant user manages instances",
            app.client.post(url(&instances_path(tenant))).bearer_auth(&tenant_user).json(&valid_instance()),
            StatusCode::FORBIDDEN,
        ),
        ("404 route", admin_request(&app, Method::GET, "/api/v1/nope"), StatusCode::NOT_FOUND),
        ("404 instance", admin_request(&app, Method::GET, &instance_path(tenant, 999_999)), StatusCode::NOT_FOUND),
        (
            "409 name owned elsewhere",
            admin_request(&app, Method::POST, &instances_path(tenant))
                .json(&json!({"phone_number": "+573009876543", "instance_name": "ajena", "evolution_api_key": "k", "daily_message_limit": 5})),
            StatusCode::CONFLICT,
        ),
        ("413 too large", admin_request(&app, Method::POST, &instances_path(tenant)).json(&big), StatusCode::PAYLOAD_TOO_LARGE),
        ("422 validation", admin_request(&app, Method::POST, &instances_path(tenant)).json(&json!({})), StatusCode::UNPROCESSABLE_ENTITY),
    ];

    for (case, request, status) in cases {
        let reply = send(request).await;

        assert_eq!(reply.status, status, "[{case}] {}", reply.body);
        assert!(
            content_type(&reply.headers).starts_with("application/json"),
            "[{case}] content-type {}",
            content_type(&reply.headers)
        );
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "[{case}] {}",
            reply.body
        );
    }
}

async fn responses_carry_a_request_id(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let request_id = |reply: &Reply| {
        reply
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };

    // Generated when the client sends none, different for every request.
    let first = app.admin(Method::GET, "/api/v1/tenants", None).await;
    let second = app.admin(Method::GET, "/api/v1/tenants", None).await;
    let generated = [request_id(&first), request_id(&second)];
    assert!(
        generated
            .iter()
            .all(|id| id.as_deref().is_some_and(|id| !id.is_empty())),
        "{generated:?}"
    );
    assert_ne!(generated[0], generated[1], "each request has its own id");

    // Relevo's own, also when the client sends one, on successes and errors alike: a
    // client cannot choose the id its request is logged and audited under.
    let cases = [
        (
            "200",
            admin_request(&app, Method::GET, "/api/v1/tenants"),
            StatusCode::OK,
        ),
        (
            "201",
            admin_request(&app, Method::POST, &instances_path(tenant)).json(&valid_instance()),
            StatusCode::CREATED,
        ),
        (
            "400",
            admin_request(&app, Method::POST, &instances_path(tenant))
                .header(CONTENT_TYPE, "application/json")
                .body("{"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "401",
            app.client.get(format!("{}/api/v1/tenants", app.address)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "404",
            admin_request(&app, Method::GET, "/api/v1/nope"),
            StatusCode::NOT_FOUND,
        ),
        (
            "422",
            admin_request(&app, Method::POST, &instances_path(tenant)).json(&json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (case, request, status) in cases {
        let sent = format!("trace-{case}-0f8e2a");

        let reply = send(request.header("x-request-id", &sent)).await;

        assert_eq!(reply.status, status, "[{case}] {}", reply.body);
        let answered = request_id(&reply).unwrap_or_default();
        assert_ne!(answered, sent, "[{case}]");
        assert!(
            uuid::Uuid::parse_str(&answered).is_ok(),
            "[{case}] {answered}"
        );
    }
}

both_backends!(
    malformed_json_is_400_request_malformed,
    json_that_is_not_an_object_is_400,
    a_body_without_the_json_content_type_is_400,
    bodies_over_64_kib_are_413,
    a_chunked_body_over_64_kib_is_413,
    a_body_just_under_64_kib_reaches_validation,
    unknown_routes_are_404_json,
    a_non_numeric_instance_id_is_404_json,
    a_missing_instance_is_404_with_the_seed_body,
    a_missing_tenant_is_404_tenant_not_found,
    every_error_body_is_json,
    responses_carry_a_request_id,
    a_nul_character_is_refused_in_bodies_queries_and_paths,
    every_documented_path_answers_405_to_other_methods,
    a_body_that_trickles_in_is_cut_off_with_408,
);
