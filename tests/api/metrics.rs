//! `GET /metrics` (SPEC §9): Prometheus text that counts what happened, read back the way
//! a scraper reads it.

use std::collections::HashMap;

use diesel::RunQueryDsl;
use relevo::clock::Clock;
use relevo::domain::DeliveryStatus;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::evolution_fake::spawn_reachable_with_fake;
use crate::helpers::{assert_error, Backend};

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
    app.provisioned_with(
        tenant,
        &json!({"instance_name": "uno", "daily_message_limit": 1}),
    )
    .await;
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
    // The delivery worker's step counts instances by status for the gauges.
    app.deliver().await;

    let response = app.scrape_metrics(None).await;
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
    // Evolution servers are named by their id, never by where they are.
    let servers = app
        .admin(Method::GET, "/api/v1/evolution-servers", None)
        .await;
    let server = servers.body["data"][0]["id"].as_i64().unwrap();
    let address = fake.url.trim_start_matches("http://");
    assert!(
        !samples.keys().any(|series| series.contains(address)),
        "{address} in {samples:#?}"
    );
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

/// A scrape serves what the delivery worker last counted and reads no table: with a large
/// outbox it shows the old count until a worker step, one step a count at most every 15 s
/// of Relevo's clock, and it answers the same with the counted tables gone.
async fn a_scrape_reads_no_table_and_the_worker_counts_at_most_every_15_s(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let tenant = app.seed_tenant().await;
    app.instance(tenant, "+573005550901", "uno", 10).await;
    let now = app.clock.now().naive_utc();
    let tomorrow = now + chrono::Duration::days(1);
    app.seed_outbox(tenant, DeliveryStatus::Delivered, 2500, now, None);
    app.seed_outbox(tenant, DeliveryStatus::Pending, 500, now, Some(tomorrow));
    let gauges = |text: &str| {
        let samples = parse(text);
        [
            r#"relevo_outbox_events{status="delivered"}"#,
            r#"relevo_outbox_events{status="pending"}"#,
            r#"relevo_instances{status="unknown"}"#,
            "relevo_database_counted_timestamp_seconds",
        ]
        .map(|series| samples.get(series).copied())
    };

    // No worker step yet: nothing was counted, and the scrape counts nothing itself.
    assert_eq!(
        gauges(&app.metrics_text().await),
        [None, None, None, Some(0.0)]
    );

    let counted_at = app.clock.now().timestamp() as f64;
    app.deliver().await;
    let counted = [Some(2500.0), Some(500.0), Some(1.0), Some(counted_at)];
    assert_eq!(gauges(&app.metrics_text().await), counted);

    // More events: the scrape still serves the last count; so does a step before 15 s.
    app.seed_outbox(tenant, DeliveryStatus::Delivered, 500, now, None);
    assert_eq!(gauges(&app.metrics_text().await), counted);
    app.clock.advance(chrono::Duration::seconds(14));
    app.deliver().await;
    assert_eq!(gauges(&app.metrics_text().await), counted);

    // With the counted tables renamed away, a scrape answers as before: it read neither.
    let rename = |from: &str, to: &str| {
        diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}"))
            .execute(&mut app.db())
            .expect("table renamed");
    };
    rename("webhook_events", "webhook_events_away");
    rename("whatsapp_instances", "whatsapp_instances_away");
    let reply = app.scrape_metrics(None).await;
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(gauges(&reply.text().await.unwrap()), counted);
    rename("whatsapp_instances_away", "whatsapp_instances");
    rename("webhook_events_away", "webhook_events");

    // 15 s after the last count, the next step counts again.
    app.clock.advance(chrono::Duration::seconds(1));
    app.deliver().await;
    assert_eq!(
        gauges(&app.metrics_text().await),
        [
            Some(3000.0),
            Some(500.0),
            Some(1.0),
            Some(app.clock.now().timestamp() as f64)
        ]
    );
}

/// `RELEVO_METRICS_TOKEN`: without `Authorization: Bearer <token>`, or with anything else
/// (another token, a super admin's), 401 like every other; with it, the metrics.
async fn the_metrics_token_is_required_when_set(backend: Backend) {
    const TOKEN: &str = "scrape-token-0123456789abcdef";
    let Some(app) =
        crate::helpers::spawn_app_with(backend, &[("RELEVO_METRICS_TOKEN", TOKEN)]).await
    else {
        return;
    };
    let admin = app.admin_token.clone();
    for token in [
        None,
        Some("scrape-token-0123456789abcdeg"),
        Some(admin.as_str()),
    ] {
        let reply = app.send(Method::GET, "/metrics", token, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.body, json!({"message": "Unauthenticated."}));
    }
    let scrape = |authorization: &'static str| {
        app.client
            .get(format!("{}/metrics", app.address))
            .header("Authorization", authorization)
            .send()
    };
    let wrong_scheme = scrape("Basic c2NyYXBlLXRva2VuLTAxMjM0NTY3ODlhYmNkZWY=")
        .await
        .unwrap();
    assert_eq!(wrong_scheme.status(), StatusCode::UNAUTHORIZED);
    let reply = scrape("Bearer scrape-token-0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let samples = parse(&reply.text().await.unwrap());
    assert_eq!(
        samples[r#"relevo_http_requests_total{method="GET",route="/metrics",status="401"}"#],
        4.0
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
    assert_error(&reply, reqwest::StatusCode::NOT_FOUND, "route.not_found");
}

both_backends!(
    metrics_count_requests_claims_messages_logins_and_instances,
    a_scrape_reads_no_table_and_the_worker_counts_at_most_every_15_s,
    the_metrics_token_is_required_when_set,
    metrics_can_be_turned_off,
);
