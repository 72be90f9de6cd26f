//! Deleting a tenant with instances live on Evolution (issue "Trust boundaries", item 2):
//! a live session never passes to another tenant silently.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::evolution_fake::{spawn_with_fake, Failure};
use crate::helpers::{assert_error, Backend};

const UNO_JID: &str = "573001234567@s.whatsapp.net";

macro_rules! spawn_or_skip_with_fake {
    ($backend:expr) => {
        match spawn_with_fake($backend, &[]).await {
            Some(pair) => pair,
            None => return,
        }
    };
}

async fn tenant(app: &crate::helpers::TestApp, slug: &str) -> i64 {
    let reply = app
        .create_tenant(json!({"slug": slug, "nombre": slug, "tipo_cargo": "Alcaldía", "identificacion": "900123"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_i64().unwrap()
}

async fn delete_tenant(app: &crate::helpers::TestApp, id: i64) -> crate::helpers::Reply {
    app.admin(
        Method::DELETE,
        &format!("/api/v1/tenants/{id}?force=true"),
        None,
    )
    .await
}

/// A forced delete deletes the tenant's provisioned instances on Evolution (which logs
/// them out), so the name is free again and nothing of the old session is left.
async fn deleting_a_tenant_deletes_its_instances_on_evolution(backend: Backend) {
    let (app, fake) = spawn_or_skip_with_fake!(backend);
    let old = tenant(&app, "old").await;
    let reply = app.provision(old, &json!({"instance_name": "uno"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    fake.link("uno", UNO_JID);

    let reply = delete_tenant(&app, old).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["message"], "Tenant deleted successfully");
    assert!(fake.instance("uno").is_none(), "deleted on Evolution");
    let new = tenant(&app, "new").await;
    let reply = app.provision(new, &json!({"instance_name": "uno"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        fake.state().creates,
        2,
        "a new instance, not the old session"
    );
}

/// When Evolution cannot delete them, the names stay reserved: another tenant's
/// provisioning is a 409 until an admin confirms with `adopt`.
async fn a_session_evolution_kept_is_not_adopted_silently(backend: Backend) {
    let (app, fake) = spawn_or_skip_with_fake!(backend);
    let old = tenant(&app, "old").await;
    let reply = app.provision(old, &json!({"instance_name": "uno"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    fake.link("uno", UNO_JID);
    fake.fail(Failure::ServerError);

    let reply = delete_tenant(&app, old).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap();
    assert!(
        message.contains("uno") && message.contains("adopt"),
        "{message}"
    );
    fake.recover();
    assert!(fake.instance("uno").is_some(), "Evolution kept it");
    let new = tenant(&app, "new").await;
    let refused = app.provision(new, &json!({"instance_name": "uno"})).await;
    assert_error(
        &refused,
        StatusCode::CONFLICT,
        "whatsapp.instance_name_retired",
    );
    assert!(app.instance_rows().is_empty(), "nothing adopted");

    let adopted = app
        .provision(new, &json!({"instance_name": "uno", "adopt": true}))
        .await;
    assert_eq!(adopted.status, StatusCode::CREATED, "{}", adopted.body);
    assert_eq!(adopted.body["data"]["tenant_id"], new);
    let again = app.provision(new, &json!({"instance_name": "uno"})).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "the adopted name is the tenant's now"
    );
}

both_backends!(
    deleting_a_tenant_deletes_its_instances_on_evolution,
    a_session_evolution_kept_is_not_adopted_silently,
);
