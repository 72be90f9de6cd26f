//! Health, readiness, the OpenAPI document, migrations, and the newcomer's `cargo run`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{into_reply, Backend};
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

both_backends!(
    health_and_readiness,
    the_served_openapi_document_and_swagger_ui
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

#[test]
fn openapi_documents_every_route_with_its_errors() {
    let spec: serde_json::Value = serde_json::from_str(&relevo::openapi::pretty_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for expected in [
        "/api/v1/whatsapp-instances",
        "/api/v1/tenants/{tenant}/whatsapp-instances",
        "/api/v1/tenants/{tenant}/whatsapp-instances/{id}",
        "/api/v1/tenants/{tenant}/whatsapp-instances/{id}/toggle-active",
        "/api/v1/tenants/{tenant}/whatsapp-instances/{id}/reset-counter",
        "/api/v1/tenants/{tenant}/whatsapp-instances/{id}/statistics",
        "/api/v1/tenant/whatsapp-instances",
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant}",
        "/api/v1/auth/login",
        "/api/v1/users",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    // `/health` answers whenever the process runs; everything else can fail.
    for (path, operations) in paths.iter().filter(|(path, _)| *path != "/health") {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let has_error = responses
                .keys()
                .any(|code| code.starts_with('4') || code.starts_with('5'));
            assert!(has_error, "{method} {path} documents no error response");
        }
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
    std::thread::spawn(move || lines.for_each(drop));
    Newcomer {
        child,
        address,
        log,
    }
}

fn stop_gracefully(mut newcomer: Newcomer) {
    let status = Command::new("kill")
        .args(["-TERM", &newcomer.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..100 {
        if let Some(exit) = newcomer.child.try_wait().unwrap() {
            assert!(exit.success(), "relevo exited with {exit} on SIGTERM");
            return;
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
    stop_gracefully(first);

    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert!(dir.path().join("data/relevo.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/secrets.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "generated secrets are private");
    }

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
