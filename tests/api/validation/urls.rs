//! Every URL field (an instance's server, a tenant's callback, an Evolution server) refuses
//! a user name or password in the URL.

use reqwest::Method;
use serde_json::json;

use super::*;
use crate::both_backends;
use crate::helpers::{instance_path, instances_path, Backend};
use crate::spawn_or_skip;

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

both_backends!(urls_with_credentials_are_refused,);
