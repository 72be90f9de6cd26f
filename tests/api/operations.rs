//! Health, readiness, the OpenAPI document, migrations, and the newcomer's `cargo run`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{into_reply, test_settings, Backend, TestDatabase};
use crate::spawn_or_skip;

async fn health_and_readiness(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let health = app.send(Method::GET, "/health", None, None).await;
    let ready = app.send(Method::GET, "/ready", None, None).await;

    assert_eq!(
        (health.status, health.body),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert_eq!(
        (ready.status, ready.body),
        (StatusCode::OK, json!({"status": "ready"}))
    );
}

async fn the_served_openapi_document_and_swagger_ui(backend: Backend) {
    let app = spawn_or_skip!(backend);

    let spec = app
        .send(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    let ui = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(
        spec.body,
        serde_json::from_str::<serde_json::Value>(&relevo::openapi::pretty_json()).unwrap()
    );
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(
        ui.text().await.unwrap().contains("swagger"),
        "Swagger UI is served from the binary"
    );
}

async fn swagger_ui_has_the_consoles_security_headers(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();

    for path in [
        "/docs/",
        "/docs/index.html",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
        "/docs/no-such-file",
        "/console/",
    ] {
        let answer = get(path).await.unwrap();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let policy = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} in {policy:?}"
            );
        }
        assert!(!policy.contains("unsafe-eval"), "{path}: {policy}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
    // The policy allows no inline script, so Swagger UI's page must have none.
    let page = get("/docs/").await.unwrap().text().await.unwrap();
    let scripts: Vec<&str> = page.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{page}");
    for script in scripts {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains("src="), "an inline script: <script{tag}>");
    }
    let initializer = get("/docs/swagger-initializer.js")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains("/api-docs/openapi.json"),
        "the document is fetched from this origin: {initializer}"
    );
    // The API's own answers are JSON and carry no page policy.
    let api = get("/api-docs/openapi.json").await.unwrap();
    assert!(api.headers().get("content-security-policy").is_none());
}

both_backends!(
    health_and_readiness,
    the_served_openapi_document_and_swagger_ui,
    swagger_ui_has_the_consoles_security_headers,
    the_money_migration_keeps_existing_prices_exactly,
);

#[test]
fn committed_openapi_document_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let generated = relevo::openapi::pretty_json();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json` (or UPDATE_OPENAPI=1 cargo test)"
    );
}

/// The operationIds of the first published document: generated clients name their
/// functions after them, so they never change.
const PUBLISHED_OPERATION_IDS: &str = "claim_instance claim_own_instance connect_instance \
    connection_state create_instance create_sender_token create_server create_tenant create_user \
    delete_instance delete_sender_token delete_server delete_tenant delete_user get_webhook \
    get_websocket health instance_qr instance_statistics list_all_instances list_audit_log \
    list_instances list_own_instances list_sender_tokens list_servers list_sync_runs list_tenants \
    list_users login logout_instance me own_instance_statistics provision_instance ready \
    receive_evolution_webhook receive_evolution_webhook_by_event release_claim release_own_claim \
    reset_counter restart_instance server_health set_webhook set_websocket show_instance \
    show_own_instance show_server show_tenant show_user sync_all_instances sync_tenant_instances \
    tenant_statistics toggle_active update_instance update_server update_tenant update_user";

/// Every schema a request or response uses is a named component (`$ref`), never an inline
/// object: generated clients get one class per shape. Maps (`additionalProperties`) and
/// arrays of named items are fine.
fn inline_objects(schema: &serde_json::Value, at: &str, found: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        return;
    };
    if object.contains_key("properties") {
        found.push(at.to_string());
        return;
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = object.get(key) {
            inline_objects(inner, &format!("{at}/{key}"), found);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for (i, inner) in object
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            inline_objects(inner, &format!("{at}/{key}/{i}"), found);
        }
    }
}

#[test]
fn openapi_operations_are_complete_and_use_named_schemas() {
    let spec: serde_json::Value = serde_json::from_str(&relevo::openapi::pretty_json()).unwrap();
    assert!(
        spec["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "the document names a server"
    );
    let mut ids = std::collections::BTreeSet::new();
    let mut inline = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{at}: operationId `{id}` is not snake_case"
            );
            assert!(
                ids.insert(id.to_string()),
                "{at}: operationId `{id}` is used twice"
            );
            assert!(
                operation["summary"]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{at} has no summary"
            );
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at} has no tag"
            );
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{at} documents no success"
            );
            if path != "/health" {
                assert!(
                    responses
                        .keys()
                        .any(|code| code.starts_with('4') || code.starts_with('5')),
                    "{at} documents no error response"
                );
                assert!(responses.contains_key("405"), "{at} does not document 405");
                // Every operation may find the database busy, but `/metrics`, which reads none.
                assert_eq!(
                    responses.contains_key("503"),
                    path != "/metrics",
                    "{at}: 503 documented exactly when it reads the database"
                );
            }
            for (code, response) in responses {
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    inline_objects(
                        &content["schema"],
                        &format!("{at} {code} {media}"),
                        &mut inline,
                    );
                }
            }
            for (media, content) in operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                inline_objects(
                    &content["schema"],
                    &format!("{at} request {media}"),
                    &mut inline,
                );
            }
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            inline_objects(property, &format!("component {name}.{field}"), &mut inline);
        }
    }
    assert!(
        inline.is_empty(),
        "inline object schemas (name them): {inline:#?}"
    );
    for published in PUBLISHED_OPERATION_IDS.split_whitespace() {
        assert!(
            ids.contains(published),
            "operationId `{published}` disappeared"
        );
    }
}

#[test]
fn both_backends_have_the_same_migration_versions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let versions = |backend: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"));
    for version in &sqlite {
        for file in ["up.sql", "down.sql"] {
            assert!(
                root.join("sqlite").join(version).join(file).exists(),
                "{version}/{file}"
            );
            assert!(
                root.join("postgres").join(version).join(file).exists(),
                "{version}/{file}"
            );
        }
    }
}

/// `relevo` run in an empty folder with no configuration at all.
struct Newcomer {
    child: Child,
    address: String,
    log: Vec<String>,
    /// The log after the line that announced the address, read until the process ends.
    rest_of_log: std::thread::JoinHandle<Vec<String>>,
}

fn start_relevo(dir: &Path) -> Newcomer {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relevo"));
    for (name, _) in std::env::vars() {
        if name.starts_with("RELEVO_") || name.starts_with("EVOLUTION_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .current_dir(dir)
        .env("RELEVO_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relevo starts");
    let mut log = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("relevo exited before listening")
            .unwrap();
        log.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let rest_of_log = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    Newcomer {
        child,
        address,
        log,
        rest_of_log,
    }
}

/// Stops relevo with SIGTERM; answers its whole log.
fn stop_gracefully(mut newcomer: Newcomer) -> Vec<String> {
    let status = Command::new("kill")
        .args(["-TERM", &newcomer.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..100 {
        if let Some(exit) = newcomer.child.try_wait().unwrap() {
            assert!(exit.success(), "relevo exited with {exit} on SIGTERM");
            let mut log = newcomer.log;
            log.extend(newcomer.rest_of_log.join().unwrap());
            return log;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    newcomer.child.kill().unwrap();
    panic!("relevo did not stop within 10 s of SIGTERM");
}

#[tokio::test]
async fn a_fresh_folder_needs_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let first = start_relevo(dir.path());
    let announced = first
        .log
        .iter()
        .find_map(|line| line.split("one-time password `").nth(1))
        .expect("the admin password is printed");
    let password = announced.split('`').next().unwrap().to_string();
    let login = client
        .post(format!("{}/api/v1/auth/login", first.address))
        .json(&json!({"email": "admin@relevo.local", "password": password}))
        .send()
        .await
        .unwrap();
    let login = into_reply(login).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let search = client
        .get(format!(
            "{}/api/v1/whatsapp-instances?search=needle-for-the-log&page=1",
            first.address
        ))
        .bearer_auth(login.body["data"]["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), StatusCode::OK);
    // Checked while running: SQLite removes -wal and -shm when the last connection closes.
    #[cfg(unix)]
    let modes: Vec<(&str, u32)> = {
        use std::os::unix::fs::PermissionsExt;
        [
            "data",
            "data/secrets.json",
            "data/relevo.db",
            "data/relevo.db-wal",
            "data/relevo.db-shm",
        ]
        .into_iter()
        .map(|file| {
            let metadata = std::fs::metadata(dir.path().join(file));
            (file, metadata.map_or(0, |m| m.permissions().mode() & 0o777))
        })
        .collect()
    };
    let first_log = stop_gracefully(first);

    assert!(dir.path().join("data/relevo.db").exists());
    #[cfg(unix)]
    assert_eq!(
        modes,
        [
            ("data", 0o700),
            ("data/secrets.json", 0o600),
            ("data/relevo.db", 0o600),
            ("data/relevo.db-wal", 0o600),
            ("data/relevo.db-shm", 0o600),
        ],
        "the data directory and every file in it are its owner's only"
    );
    let locked: Vec<&String> = first_log
        .iter()
        .filter(|line| line.contains("database is locked") || line.contains("ERROR"))
        .collect();
    assert!(
        locked.is_empty(),
        "the first start logs no error: {locked:?}"
    );
    let access = first_log
        .iter()
        .find(|line| line.contains("GET /api/v1/whatsapp-instances"))
        .expect("the access log has the request");
    assert!(
        access.contains("GET /api/v1/whatsapp-instances?search=*&page=* HTTP/1.1"),
        "{access}"
    );
    assert!(
        first_log
            .iter()
            .all(|line| !line.contains("needle-for-the-log")),
        "query values stay out of the log"
    );

    // A second start keeps the admin and the keys: the old token still works, no new password.
    let second = start_relevo(dir.path());
    let token = login.body["data"]["access_token"].as_str().unwrap();
    let me = client
        .get(format!("{}/api/v1/auth/me", second.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let printed_again = second
        .log
        .iter()
        .any(|line| line.contains("one-time password"));
    stop_gracefully(second);
    assert_eq!(me.status(), StatusCode::OK);
    assert!(!printed_again);

    // `relevo admin create` adds another super admin to the same database.
    let output = Command::new(env!("CARGO_BIN_EXE_relevo"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .args([
            "admin",
            "create",
            "--email",
            "ops@relevo.test",
            "--password",
            "Ops pass phrase 7 blue",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let third = start_relevo(dir.path());
    let ops = client
        .post(format!("{}/api/v1/auth/login", third.address))
        .json(&json!({"email": "ops@relevo.test", "password": "Ops pass phrase 7 blue"}))
        .send()
        .await
        .unwrap();
    stop_gracefully(third);
    assert_eq!(ops.status(), StatusCode::OK);
}

/// Prices stored as floating point before money became exact are kept to the cent (to the
/// 4th decimal), and those outside the bounds the API now enforces are brought to them.
async fn the_money_migration_keeps_existing_prices_exactly(backend: Backend) {
    use diesel::migration::MigrationSource;
    use diesel::prelude::*;
    use diesel::r2d2::ManageConnection;
    use diesel_migrations::MigrationHarness;
    use relevo::db::{DbConnection, DbConnectionManager, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    // The money migration's version, as diesel reads it from `2026-11-29-000300_…`.
    let before_money = |version: String| version.replace('-', "").as_str() < "20261129000300";

    let Some(database) = TestDatabase::create(backend) else {
        return;
    };
    let mut conn = DbConnectionManager::new(&test_settings(database.url(), &[]))
        .connect()
        .unwrap();
    match &mut conn {
        DbConnection::Sqlite(c) => {
            c.applied_migrations().unwrap(); // creates diesel's bookkeeping table
            let mut all =
                MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS).unwrap();
            all.sort_by_key(|m| m.name().version().to_string());
            for migration in all
                .iter()
                .filter(|m| before_money(m.name().version().to_string()))
            {
                c.run_migration(&**migration).unwrap();
            }
        }
        DbConnection::Postgres(c) => {
            c.applied_migrations().unwrap();
            let mut all =
                MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS).unwrap();
            all.sort_by_key(|m| m.name().version().to_string());
            for migration in all
                .iter()
                .filter(|m| before_money(m.name().version().to_string()))
            {
                c.run_migration(&**migration).unwrap();
            }
        }
    }
    let prices = [
        ("seed", "200", 200_000_000_i64),
        ("tenth", "0.1", 100_000),
        ("sum", "0.30000000000000004", 300_000),
        ("five-decimals", "0.123456", 123_500),
        ("huge", "1e308", 1_000_000_000_000),
        ("negative", "-5", 0),
    ];
    for (name, price, _) in prices {
        diesel::sql_query(format!(
            "INSERT INTO tenants (slug, nombre, timezone, whatsapp_unit_price, created_at, updated_at) \
             VALUES ('{name}', 'x', 'UTC', {price}, '2025-11-17 06:30:00', '2025-11-17 06:30:00')"
        ))
        .execute(&mut conn)
        .unwrap();
    }

    relevo::db::run_migrations(&mut conn).unwrap();

    use relevo::db::schema::tenants;
    for (name, _, micros) in prices {
        let stored: i64 = tenants::table
            .filter(tenants::slug.eq(name))
            .select(tenants::whatsapp_unit_price_micros)
            .first(&mut conn)
            .unwrap();
        assert_eq!(stored, micros, "{name}");
    }
}

/// A database file a previous version left readable by others is made private at start.
#[cfg(unix)]
#[test]
fn a_database_file_readable_by_others_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relevo.db");
    for file in ["relevo.db", "relevo.db-wal"] {
        std::fs::write(dir.path().join(file), b"").unwrap();
        std::fs::set_permissions(
            dir.path().join(file),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }

    let pool = relevo::db::build_pool(&test_settings(path.to_str().unwrap(), &[])).unwrap();
    // A read opens the WAL files; they stay while a connection is open.
    let mut conn = pool.get().unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut *conn,
        "SELECT count(*) FROM sqlite_master",
    )
    .unwrap();

    for file in ["relevo.db", "relevo.db-wal", "relevo.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

#[test]
fn postgres_without_secrets_refuses_to_start_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_relevo"))
        .env("DATABASE_URL", "postgres://127.0.0.1:5432/relevo")
        .env_remove("RELEVO_JWT_SECRET")
        .env_remove("RELEVO_ENCRYPTION_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(!output.status.success());
    assert!(
        stderr.contains("RELEVO_JWT_SECRET") && stderr.contains("RELEVO_ENCRYPTION_KEY"),
        "{stderr}"
    );
}
