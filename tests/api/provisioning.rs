//! Seed 004's provisioning matrix against the fake Evolution server: in the database or
//! not, on Evolution or not; repeated, concurrent and failing calls; what the database and
//! the fake hold after each.

use relevo::domain::ConnectionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::evolution_fake::{Failure, GLOBAL_KEY};
use crate::helpers::{assert_error, assert_invalid, instances_path, Backend};
use crate::{spawn_or_skip, spawn_with_fake_or_skip};

async fn first_provision_creates_the_instance_everywhere_with_a_qr_code(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let server_id = app.default_server_id().await;

    let reply = app
        .provision(
            tenant,
            &json!({"instance_name": "principal", "daily_message_limit": 500, "notes": "campaña"}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let data = &reply.body["data"];
    let remote = fake.instance("principal").expect("created on Evolution");
    assert_eq!(data["instance_name"], "principal");
    assert_eq!(data["tenant_id"], tenant);
    assert_eq!(data["connection_status"], "connecting");
    assert_eq!(data["provisioned"], true);
    assert_eq!(data["evolution_server_id"], server_id);
    assert_eq!(data["evolution_api_url"], fake.url.as_str());
    assert_eq!(data["daily_message_limit"], 500);
    assert_eq!(data["notes"], "campaña");
    assert_eq!(data["phone_number"], "");
    assert_eq!(data["evolution_api_key"], remote.token.as_str());
    // create does not connect (qrcode: false); connect gave QR 1.
    assert_eq!(data["qr_code"]["code"], "2@principal-qr-1");
    assert_eq!(
        data["qr_code"]["base64"],
        "data:image/png;base64,principal1"
    );
    assert_eq!(data["qr_code"]["pairing_code"], Value::Null);

    let rows = app.instance_rows();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.connection_status, ConnectionStatus::Connecting);
    assert!(row.provisioned);
    assert_eq!(row.qr_code.as_deref(), Some("2@principal-qr-1"));
    assert!(!row.evolution_api_key_encrypted.contains(&remote.token));
    assert_eq!(app.decrypt(&row.evolution_api_key_encrypted), remote.token);
    assert_eq!(fake.instance_names(), vec!["principal".to_string()]);
    assert_eq!(fake.state().creates, 1);
    assert_eq!(remote.state, "connecting");
}

async fn provisioning_again_reuses_both_and_gives_a_fresh_qr_code(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = json!({"instance_name": "principal"});
    let first = app.provision(tenant, &body).await;

    let second = app.provision(tenant, &body).await;

    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["data"]["id"], first.body["data"]["id"]);
    assert_eq!(
        second.body["message"],
        "WhatsApp instance already existed. Scan the new QR code."
    );
    assert_eq!(second.body["data"]["qr_code"]["code"], "2@principal-qr-2");
    let rows = app.instance_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].qr_code.as_deref(), Some("2@principal-qr-2"));
    assert_eq!(fake.instance_names().len(), 1);
    assert_eq!(fake.state().creates, 1, "no second create on Evolution");
}

async fn provisioning_after_the_server_lost_the_instance_creates_it_again(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = json!({"instance_name": "principal"});
    let first = app.provision(tenant, &body).await;
    fake.lose_instance("principal");

    let again = app.provision(tenant, &body).await;

    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["data"]["id"], first.body["data"]["id"]);
    let remote = fake.instance("principal").expect("created again");
    assert_eq!(fake.state().creates, 2);
    let rows = app.instance_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].connection_status, ConnectionStatus::Connecting);
    assert_eq!(
        app.decrypt(&rows[0].evolution_api_key_encrypted),
        remote.token
    );
}

async fn an_instance_only_on_evolution_is_adopted_with_its_token(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    fake.add_instance("existente", "TOKEN-EXISTENTE", "close");
    fake.link("existente", "573001234567@s.whatsapp.net");

    let reply = app
        .provision(tenant, &json!({"instance_name": "existente"}))
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["connection_status"], "connected");
    assert_eq!(reply.body["data"]["qr_code"]["code"], Value::Null);
    assert_eq!(
        reply.body["data"]["connected_at"],
        "2025-11-17T06:30:00.000000Z"
    );
    assert_eq!(fake.state().creates, 0, "nothing created on Evolution");
    let row = &app.instance_rows()[0];
    assert_eq!(
        app.decrypt(&row.evolution_api_key_encrypted),
        "TOKEN-EXISTENTE"
    );
    assert_eq!(
        row.owner_jid.as_deref(),
        Some("573001234567@s.whatsapp.net")
    );
    assert_eq!(row.profile_name.as_deref(), Some("Campaña"));
}

async fn a_failure_leaves_the_row_in_error_and_the_next_call_repairs_it(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let cases = [
        (
            Failure::ServerError,
            StatusCode::BAD_GATEWAY,
            "evolution.unavailable",
        ),
        (
            Failure::Slow,
            StatusCode::GATEWAY_TIMEOUT,
            "evolution.timeout",
        ),
    ];
    for (i, (failure, status, key)) in cases.into_iter().enumerate() {
        let name = format!("caida_{i}");
        let body = json!({ "instance_name": name });
        fake.fail(failure);

        let failed = app.provision(tenant, &body).await;

        assert_error(&failed, status, key);
        let row = app
            .instance_rows()
            .into_iter()
            .find(|row| row.instance_name == name)
            .expect("the row stays");
        assert_eq!(
            row.connection_status,
            ConnectionStatus::Error,
            "{failure:?}"
        );
        assert!(fake.instance(&name).is_none(), "{failure:?}");

        fake.recover();
        let repaired = app.provision(tenant, &body).await;

        assert_eq!(repaired.status, StatusCode::CREATED, "{}", repaired.body);
        assert_eq!(repaired.body["data"]["id"], row.id);
        assert_eq!(repaired.body["data"]["connection_status"], "connecting");
        assert_eq!(
            app.instance_row(row.id).connection_status,
            ConnectionStatus::Connecting
        );
        assert!(fake.instance(&name).is_some());
    }
    assert_eq!(app.instance_rows().len(), 2);
    assert_eq!(fake.state().creates, 2);
}

async fn a_rejected_key_is_a_502_naming_the_server(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    fake.rotate_global_key();

    let reply = app
        .provision(tenant, &json!({"instance_name": "principal"}))
        .await;

    assert_error(&reply, StatusCode::BAD_GATEWAY, "evolution.unauthorized");
    let message = reply.body["message"].as_str().unwrap();
    assert!(message.contains(&fake.url), "{message}");
    assert!(!message.contains(GLOBAL_KEY), "{message}");
    assert_eq!(
        app.instance_rows()[0].connection_status,
        ConnectionStatus::Error
    );
    assert!(fake.instance_names().is_empty());
}

async fn a_qr_code_that_never_arrives_still_provisions(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    fake.state().qr_never_arrives = true;

    let reply = app
        .provision(tenant, &json!({"instance_name": "principal"}))
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let qr = &reply.body["data"]["qr_code"];
    assert_eq!(
        (&qr["base64"], &qr["code"], &qr["pairing_code"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    let row = &app.instance_rows()[0];
    assert_eq!(row.connection_status, ConnectionStatus::Connecting);
    assert_eq!(row.qr_code, None);
    assert!(fake.instance("principal").is_some());
}

async fn concurrent_provisioning_makes_one_row_and_one_remote_instance(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = json!({"instance_name": "simultanea"});

    let replies =
        futures_util::future::join_all((0..6).map(|_| app.provision(tenant, &body))).await;

    let ids: Vec<&Value> = replies.iter().map(|r| &r.body["data"]["id"]).collect();
    for reply in &replies {
        assert!(
            matches!(reply.status, StatusCode::OK | StatusCode::CREATED),
            "{}",
            reply.body
        );
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(replies.iter().any(|r| r.status == StatusCode::CREATED));
    assert_eq!(app.instance_rows().len(), 1);
    assert_eq!(fake.instance_names(), vec!["simultanea".to_string()]);
    assert_eq!(fake.state().creates, 1);
}

async fn names_are_generated_and_a_phone_number_asks_for_a_pairing_code(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let unnamed = app.provision(tenant, &json!({})).await;
    let with_phone = app
        .provision(tenant, &json!({"phone_number": "+57 300 123 4567"}))
        .await;
    let same_phone = app
        .provision(tenant, &json!({"phone_number": "+573001234567"}))
        .await;

    assert_eq!(unnamed.status, StatusCode::CREATED, "{}", unnamed.body);
    let name = unnamed.body["data"]["instance_name"].as_str().unwrap();
    let prefix = format!("tenant-{tenant}-");
    let suffix = name.strip_prefix(&prefix).expect(name);
    assert_eq!(suffix.len(), 8, "{name}");
    assert!(suffix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));

    assert_eq!(
        with_phone.status,
        StatusCode::CREATED,
        "{}",
        with_phone.body
    );
    assert_eq!(with_phone.body["data"]["phone_number"], "+573001234567");
    assert!(with_phone.body["data"]["qr_code"]["pairing_code"]
        .as_str()
        .is_some_and(|code| code.starts_with("PAIR")));
    assert_eq!(fake.state().last_number.as_deref(), Some("573001234567"));

    // Without a name, the tenant's instance with that number is the one meant.
    assert_eq!(same_phone.status, StatusCode::OK, "{}", same_phone.body);
    assert_eq!(same_phone.body["data"]["id"], with_phone.body["data"]["id"]);
    assert_eq!(app.instance_rows().len(), 2);
    assert_eq!(fake.instance_names().len(), 2);
}

async fn the_tenant_maximum_is_enforced(backend: Backend) {
    let (app, fake) =
        spawn_with_fake_or_skip!(backend, &[("EVOLUTION_API_MAX_INSTANCES_PER_TENANT", "2")]);
    let tenant = app.seed_tenant().await;
    for name in ["uno", "dos"] {
        let reply = app
            .provision(tenant, &json!({ "instance_name": name }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    let third = app
        .provision(tenant, &json!({"instance_name": "tres"}))
        .await;
    let existing = app
        .provision(tenant, &json!({"instance_name": "uno"}))
        .await;

    assert_error(
        &third,
        StatusCode::UNPROCESSABLE_ENTITY,
        "whatsapp.max_instances_reached",
    );
    assert_eq!(third.body["error_params"], json!({"max": 2}));
    assert_eq!(
        existing.status,
        StatusCode::OK,
        "an existing one still works"
    );
    assert_eq!(app.instance_rows().len(), 2);
    assert_eq!(
        fake.instance_names(),
        vec!["dos".to_string(), "uno".to_string()]
    );
}

async fn a_name_another_tenant_owns_is_409_and_touches_nothing(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let owner = app.seed_tenant().await;
    let other = app.tenant_named("otro-candidato", "UTC").await;
    let body = json!({"instance_name": "compartida"});
    app.provision(owner, &body).await;
    let calls_before = fake.calls().len();

    let reply = app.provision(other, &body).await;

    assert_error(&reply, StatusCode::CONFLICT, "whatsapp.instance_name_taken");
    assert_eq!(
        reply.body["error_params"],
        json!({"instance_name": "compartida"})
    );
    let rows = app.instance_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].tenant_id, owner);
    assert_eq!(fake.calls().len(), calls_before, "Evolution was not called");
}

async fn without_a_usable_server_provisioning_is_503(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let body = json!({"instance_name": "principal"});

    let none = app.provision(tenant, &body).await;
    let invalid = app
        .provision(tenant, &json!({"instance_name": "con espacio"}))
        .await;
    let created = app
        .admin(
            Method::POST,
            "/api/v1/evolution-servers",
            Some(&json!({"name": "apagado", "base_url": "http://127.0.0.1:9", "api_key": "k", "is_active": false})),
        )
        .await;
    let inactive = app.provision(tenant, &body).await;
    let missing = app
        .provision(tenant, &json!({"evolution_server_id": 999}))
        .await;
    let named_inactive = app
        .provision(
            tenant,
            &json!({"evolution_server_id": created.body["data"]["id"]}),
        )
        .await;

    assert_error(
        &none,
        StatusCode::SERVICE_UNAVAILABLE,
        "evolution.no_server",
    );
    assert!(none.body["message"]
        .as_str()
        .unwrap()
        .contains("must configure one"));
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad input is named before the missing server"
    );
    assert_eq!(created.body["data"]["is_default"], true);
    assert_error(
        &inactive,
        StatusCode::SERVICE_UNAVAILABLE,
        "evolution.no_server",
    );
    assert!(inactive.body["message"]
        .as_str()
        .unwrap()
        .contains("`apagado` is inactive"));
    assert_error(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation.failed",
    );
    assert_eq!(
        missing.body["errors"]["evolution_server_id"][0],
        "El servidor Evolution seleccionado no existe"
    );
    assert_eq!(
        named_inactive.body["errors"]["evolution_server_id"][0],
        "El servidor Evolution seleccionado está inactivo o no tiene API key"
    );
    assert!(app.instance_rows().is_empty());
}

async fn provisioning_is_validated_all_at_once(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;

    let reply = app
        .provision(
            tenant,
            &json!({"instance_name": "con espacio", "phone_number": "123", "daily_message_limit": 0,
                    "evolution_server_id": "uno", "notes": "x".repeat(1001)}),
        )
        .await;

    assert_invalid(
        &reply,
        &[
            "instance_name",
            "phone_number",
            "daily_message_limit",
            "notes",
            "evolution_server_id",
        ],
    );
    assert!(app.instance_rows().is_empty());
    assert!(fake.calls().is_empty());
}

async fn relevo_points_the_instance_webhook_at_itself(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(
        backend,
        &[("RELEVO_PUBLIC_URL", "https://relevo.example.com/")]
    );
    let tenant = app.seed_tenant().await;

    app.provision(tenant, &json!({"instance_name": "uno"}))
        .await;
    app.provision(tenant, &json!({"instance_name": "dos"}))
        .await;

    let first = fake.instance("uno").unwrap().webhook.expect("a webhook");
    let second = fake.instance("dos").unwrap().webhook.expect("a webhook");
    let url = first["url"].as_str().unwrap();
    let token = url
        .strip_prefix("https://relevo.example.com/api/v1/webhooks/evolution/")
        .expect(url);
    assert_eq!(token.len(), 40);
    assert_ne!(second["url"], first["url"], "each instance its own token");
    assert_eq!(first["enabled"], true);
    for event in [
        "CONNECTION_UPDATE",
        "QRCODE_UPDATED",
        "MESSAGES_UPSERT",
        "MESSAGES_UPDATE",
    ] {
        assert!(
            first["events"].as_array().unwrap().contains(&json!(event)),
            "{first}"
        );
    }
    use diesel::prelude::*;
    use relevo::db::schema::instance_webhook_tokens::dsl::*;
    let digests: Vec<Option<String>> = instance_webhook_tokens
        .select(token_digest)
        .load(&mut app.db())
        .unwrap();
    assert_eq!(digests.len(), 2);
    assert!(
        digests.contains(&Some(relevo::auth::sender::hash_token(token))),
        "only the token's digest is stored"
    );
}

async fn provisioning_can_be_switched_off(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(
        backend,
        &[("EVOLUTION_API_ENABLE_INSTANCE_CREATION", "false")]
    );
    let tenant = app.seed_tenant().await;

    let reply = app
        .provision(tenant, &json!({"instance_name": "principal"}))
        .await;

    assert_error(
        &reply,
        StatusCode::FORBIDDEN,
        "evolution.instance_creation_disabled",
    );
    assert!(app.instance_rows().is_empty());
    assert!(fake.calls().is_empty());
}

async fn only_super_admins_provision(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let token = app.tenant_user_token(tenant, "user@tenant.test").await;

    let reply = app
        .send(
            Method::POST,
            &format!("{}/provision", instances_path(tenant)),
            Some(&token),
            Some(&json!({"instance_name": "principal"})),
        )
        .await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(app.instance_rows().is_empty());
    assert!(fake.calls().is_empty());
}

/// The real server answers a create after ~5 s: when the answer is lost to the timeout,
/// the instance is looked up by name and used, never created a second time.
async fn a_create_whose_answer_was_lost_is_found_by_name(backend: Backend) {
    let (app, fake) = spawn_with_fake_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    fake.state().create_answers_late = true;

    let reply = app
        .provision(tenant, &json!({"instance_name": "principal"}))
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["connection_status"], "connecting");
    let again = app
        .provision(tenant, &json!({"instance_name": "principal"}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(fake.state().creates, 1, "created once on Evolution");
    assert_eq!(
        fake.calls_to("POST /instance/create"),
        1,
        "never sent twice"
    );
    let row = app.instance_rows().pop().unwrap();
    assert_eq!(
        app.decrypt(&row.evolution_api_key_encrypted),
        fake.instance("principal").unwrap().token
    );
}

both_backends!(
    a_create_whose_answer_was_lost_is_found_by_name,
    first_provision_creates_the_instance_everywhere_with_a_qr_code,
    provisioning_again_reuses_both_and_gives_a_fresh_qr_code,
    provisioning_after_the_server_lost_the_instance_creates_it_again,
    an_instance_only_on_evolution_is_adopted_with_its_token,
    a_failure_leaves_the_row_in_error_and_the_next_call_repairs_it,
    a_rejected_key_is_a_502_naming_the_server,
    a_qr_code_that_never_arrives_still_provisions,
    concurrent_provisioning_makes_one_row_and_one_remote_instance,
    names_are_generated_and_a_phone_number_asks_for_a_pairing_code,
    the_tenant_maximum_is_enforced,
    a_name_another_tenant_owns_is_409_and_touches_nothing,
    without_a_usable_server_provisioning_is_503,
    provisioning_is_validated_all_at_once,
    relevo_points_the_instance_webhook_at_itself,
    provisioning_can_be_switched_off,
    only_super_admins_provision,
);
