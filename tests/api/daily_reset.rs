//! The counter resets at the tenant's local midnight, lazily: reads after midnight show
//! the full quota although nothing was written (seed 001: "reseteo automático 00:00").

use chrono::{TimeZone, Utc};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::Backend;
use crate::spawn_or_skip;

async fn the_day_turns_at_the_tenants_midnight_not_utcs(backend: Backend) {
    let app = spawn_or_skip!(backend);
    // Bogotá is UTC-5: its 18 November starts at 05:00 UTC.
    let tenant = app.tenant_named("bogota", "America/Bogota").await;
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 11, 17, 15, 0, 0).unwrap());
    let id = app
        .instance(tenant, "+573001234567", "principal", 1000)
        .await;
    app.set_sent(id, 245, "2025-11-17");
    let show = format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}");

    app.clock
        .set(Utc.with_ymd_and_hms(2025, 11, 18, 4, 59, 59).unwrap());
    let before = app.admin(Method::GET, &show, None).await;
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 11, 18, 5, 0, 0).unwrap());
    let after = app.admin(Method::GET, &show, None).await;
    let stats = app
        .admin(Method::GET, &format!("{show}/statistics"), None)
        .await;
    let list = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances"),
            None,
        )
        .await;

    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(
        (
            &before.body["data"]["messages_sent_today"],
            &before.body["data"]["last_reset_date"]
        ),
        (&json!(245), &json!("2025-11-17"))
    );
    for data in [&after.body["data"], &list.body["data"][0]] {
        assert_eq!(data["messages_sent_today"], 0, "{data}");
        assert_eq!(data["remaining_quota"], 1000);
        assert_eq!(data["last_reset_date"], "2025-11-18");
        assert_eq!(data["can_send_messages"], true);
    }
    assert_eq!(stats.body["data"]["sent_today"], 0);
    assert_eq!(stats.body["data"]["last_reset"], "2025-11-18 00:00:00");

    // Lazily: the stored row was not touched by any of those reads.
    use relevo::db::schema::whatsapp_instances as table;
    let (stored_sent, stored_date): (i32, chrono::NaiveDate) = table::table
        .find(id)
        .select((table::messages_sent_today, table::last_reset_date))
        .first(&mut app.db())
        .unwrap();
    assert_eq!(
        (stored_sent, stored_date.to_string().as_str()),
        (245, "2025-11-17")
    );
}

async fn an_exhausted_instance_can_send_again_after_midnight(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.tenant_named("madrid", "Europe/Madrid").await;
    let id = app.instance(tenant, "+34612345678", "madrid", 100).await;
    app.set_sent(id, 100, "2025-11-17");
    let stats = format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}/statistics");

    let exhausted = app.admin(Method::GET, &stats, None).await;
    // Madrid is UTC+1 in November: its 18th starts at 23:00 UTC on the 17th.
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 11, 17, 23, 0, 0).unwrap());
    let next_day = app.admin(Method::GET, &stats, None).await;

    assert_eq!(exhausted.body["data"]["can_send"], false);
    assert_eq!(exhausted.body["data"]["remaining_today"], 0);
    assert_eq!(next_day.body["data"]["can_send"], true);
    assert_eq!(next_day.body["data"]["remaining_today"], 100);
    assert_eq!(next_day.body["data"]["last_reset"], "2025-11-18 00:00:00");
}

async fn reset_counter_dates_the_reset_in_the_tenants_zone(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.tenant_named("tokio", "Asia/Tokyo").await;
    let id = app.instance(tenant, "+819012345678", "tokyo", 50).await;
    // 20:00 UTC on the 17th is already the 18th in Tokyo.
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 11, 17, 20, 0, 0).unwrap());
    app.set_sent(id, 50, "2025-11-18");

    let reply = app
        .admin(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/whatsapp-instances/{id}/reset-counter"),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["data"]["last_reset_date"], "2025-11-18");
    assert_eq!(reply.body["data"]["remaining_quota"], 50);
}

both_backends!(
    the_day_turns_at_the_tenants_midnight_not_utcs,
    an_exhausted_instance_can_send_again_after_midnight,
    reset_counter_dates_the_reset_in_the_tenants_zone,
);
