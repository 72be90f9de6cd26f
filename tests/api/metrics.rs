//! `GET /metrics` (SPEC §9): Prometheus text that counts what happened, read back the way
//! a scraper reads it.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::evolution_fake::spawn_reachable_with_fake;
use crate::helpers::Backend;

/// The samples of a Prometheus text exposition: `name{labels}` → value. Every line that
/// is not a comment must be a sample, and every family must have its HELP and TYPE.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut typed = Vec::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.split(' ');
            match (words.next(), words.next()) {
                (Some("TYPE"), Some(name)) => typed.push(name.to_string()),
                (Some("HELP"), Some(_)) => {}
                _ => panic!("an unknown comment: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value.parse().expect("a sample's value is a number");
        let name = series.split('{').next().unwrap();
        assert!(
            typed.iter().any(|family| name.starts_with(family.as_str())),
            "{name} has no TYPE line before it"
        );
        assert!(name.starts_with("relevo_"), "{name}");
        samples.insert(series.to_string(), value);
    }
    samples
}

async fn metrics_count_requests_claims_messages_logins_and_instances(backend: Backend) {
    let Some((app, fake)) = spawn_reachable_with_fake(backend, &[]).await else {
        return;
    };
    let tenant = app.seed_tenant().await;
    let token = app.sender_token(tenant).await;
    let provisioned = app
        .provision(
            tenant,
            &json!({"instance_name": "uno", "daily_message_limit": 1}),
        )
        .await;
    assert_eq!(
        provisioned.status,
        StatusCode::CREATED,
        "{}",
        provisioned.body
    );
    fake.open("uno", "573001112233@s.whatsapp.net")
        .await
        .unwrap();

    let sent = app
        .send(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/messages"),
            Some(&token),
            Some(&json!({"to": "+573009876543", "text": "hola"})),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let refused = app.claim(tenant, &token, json!({})).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the one message was sent"
    );
    let wrong = app
        .login(crate::helpers::ADMIN_EMAIL, "not-the-password")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    app.tick().await;

    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let samples = parse(&response.text().await.unwrap());
    let sample = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
    };

    assert_eq!(
        sample(r#"relevo_claims_total{outcome="whatsapp.no_instance_available"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"relevo_claim_duration_seconds_count{outcome="whatsapp.no_instance_available"}"#),
        1.0
    );
    assert_eq!(sample(r#"relevo_messages_total{outcome="sent"}"#), 1.0);
    assert_eq!(
        sample(
            r#"relevo_http_requests_total{method="POST",route="/api/v1/tenants/{tenant}/sender/claim",status="429"}"#
        ),
        1.0
    );
    assert_eq!(sample(r#"relevo_logins_total{outcome="failure"}"#), 1.0);
    let server = fake.url.trim_start_matches("http://");
    assert_eq!(
        sample(&format!(
            r#"relevo_evolution_requests_total{{operation="message/sendText",outcome="ok",server="{server}"}}"#
        )),
        1.0
    );
    assert!(
        sample(&format!(
            r#"relevo_evolution_requests_total{{operation="instance/create",outcome="ok",server="{server}"}}"#
        )) >= 1.0
    );
    assert_eq!(sample(r#"relevo_instances{status="connected"}"#), 1.0);
    assert_eq!(
        sample(r#"relevo_sync_runs_total{outcome="finished",trigger="schedule"}"#),
        1.0
    );
    // Paths never become labels: an unknown path is `unmatched`.
    app.admin(Method::GET, "/api/v1/no/such/path", None).await;
    let text = app.metrics_text().await;
    assert!(!text.contains("no/such/path"));
    assert_eq!(
        parse(&text)[r#"relevo_http_requests_total{method="GET",route="unmatched",status="404"}"#],
        1.0
    );
}

/// `RELEVO_METRICS=off`: no endpoint (404 in the API's words), and claims work as ever.
async fn metrics_can_be_turned_off(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app_with(backend, &[("RELEVO_METRICS", "off")]).await
    else {
        return;
    };
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573005550901", "quiet_1", 10).await;
    let token = app.sender_token(tenant).await;
    assert_eq!(
        app.claim(tenant, &token, serde_json::json!({}))
            .await
            .status,
        reqwest::StatusCode::OK
    );
    let reply = app.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(reply.status, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(reply.body["error_key"], "route.not_found");
}

both_backends!(
    metrics_count_requests_claims_messages_logins_and_instances,
    metrics_can_be_turned_off,
);
