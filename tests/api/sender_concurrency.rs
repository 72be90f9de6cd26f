//! Proof of the sender's invariants (SPEC section 6) under concurrency: many claimers,
//! two Relevo applications with separate pools on one database, claims of several
//! messages, releases and duplicated requests in the middle.

use std::collections::HashMap;

use diesel::prelude::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, Reply, TestApp};
use crate::spawn_or_skip;

both_backends!(
    every_claimer_is_served_while_capacity_lasts,
    exactly_the_capacity_is_granted_when_demand_exceeds_it,
    waiting_claimers_never_deadlock_at_exhaustion,
    counts_releases_and_replays_never_overshoot_nor_lose_a_message,
);

/// A tenant with one instance per limit, and its sender token.
async fn tenant_with_capacity(app: &TestApp, limits: &[i64]) -> (i64, Vec<i64>, String) {
    let tenant = app.seed_tenant().await;
    let mut ids = Vec::new();
    for (n, limit) in limits.iter().enumerate() {
        let phone = format!("+5730055500{n:02}");
        ids.push(
            app.instance(tenant, &phone, &format!("pool_{n}"), *limit)
                .await,
        );
    }
    (tenant, ids, app.sender_token(tenant).await)
}

/// Per instance: `(messages_sent_today, daily_message_limit, granted - released in the log)`.
fn ledger(app: &TestApp, ids: &[i64]) -> Vec<(i32, i32, i64)> {
    use relevo::db::schema::{claims, whatsapp_instances};
    let mut conn = app.db();
    ids.iter()
        .map(|&instance| {
            let (sent, limit): (i32, i32) = whatsapp_instances::table
                .find(instance)
                .select((
                    whatsapp_instances::messages_sent_today,
                    whatsapp_instances::daily_message_limit,
                ))
                .first(&mut conn)
                .unwrap();
            let log: Vec<(i32, i32)> = claims::table
                .filter(claims::instance_id.eq(instance))
                .select((claims::granted, claims::released))
                .load(&mut conn)
                .unwrap();
            let net = log.iter().map(|(g, r)| i64::from(g - r)).sum();
            (sent, limit, net)
        })
        .collect()
}

fn assert_no_server_errors(replies: &[Reply]) {
    for reply in replies {
        assert!(
            reply.status == StatusCode::OK || reply.status == StatusCode::TOO_MANY_REQUESTS,
            "unexpected {}: {}",
            reply.status,
            reply.body
        );
    }
}

async fn one_claim_each(
    apps: &[TestApp; 2],
    tenant: i64,
    token: &str,
    claimers: usize,
) -> Vec<Reply> {
    join_all((0..claimers).map(|n| apps[n % 2].claim(tenant, token, json!({})))).await
}

/// Fewer claimers than capacity: not one of them may hear "none available", even
/// though they outnumber the instances and hit them all at once.
async fn every_claimer_is_served_while_capacity_lasts(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids, token) = tenant_with_capacity(&app, &[10, 15, 20, 25, 30]).await;
    let apps = [app.twin().await, app];

    let replies = one_claim_each(&apps, tenant, &token, 64).await;

    assert_no_server_errors(&replies);
    let granted = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        granted, 64,
        "false 'none available' while capacity remained"
    );
    let ledger = ledger(&apps[1], &ids);
    assert_eq!(ledger.iter().map(|(sent, _, _)| sent).sum::<i32>(), 64);
    for (sent, limit, net) in ledger {
        assert!(sent <= limit);
        assert_eq!(i64::from(sent), net, "counter and log disagree");
    }
}

/// More claimers than capacity: exactly the capacity is granted, and everyone else is
/// told to come back at midnight.
async fn exactly_the_capacity_is_granted_when_demand_exceeds_it(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let limits = [7, 11, 13, 17, 19];
    let (tenant, ids, token) = tenant_with_capacity(&app, &limits).await;
    let apps = [app.twin().await, app];

    let replies = one_claim_each(&apps, tenant, &token, 100).await;

    assert_no_server_errors(&replies);
    let granted = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(granted, 67);
    for ((sent, limit, net), expected) in ledger(&apps[1], &ids).into_iter().zip(limits) {
        assert_eq!(
            (i64::from(sent), i64::from(limit), net),
            (expected, expected, expected)
        );
    }
}

/// Many instances drained by many more claimers at once: claimers that find every
/// eligible row held wait for one, and waiting in different orders would deadlock.
async fn waiting_claimers_never_deadlock_at_exhaustion(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let limits = [6; 16];
    let (tenant, ids, token) = tenant_with_capacity(&app, &limits).await;
    let apps = [app.twin().await, app];

    let mut granted = 0;
    for _round in 0..3 {
        let replies = one_claim_each(&apps, tenant, &token, 64).await;
        assert_no_server_errors(&replies);
        granted += replies
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
    }

    assert_eq!(granted, 96);
    for (sent, limit, net) in ledger(&apps[1], &ids) {
        assert_eq!((sent, i64::from(sent)), (limit, net));
    }
}

/// What one worker saw: its granted claims, with what it released of each.
#[derive(Default)]
struct WorkerLog {
    claims: HashMap<String, (i64, i64)>,
    replies: Vec<Reply>,
}

/// 64 workers each want a few messages and claim 1–3 at a time through either app
/// until served or refused. Some claims are sent twice at once with the same
/// idempotency key; some grants are partly released as failed sends. Afterwards one
/// last claimer drains what is left: every instance must end exactly at its limit, and
/// every counter must equal its log.
async fn counts_releases_and_replays_never_overshoot_nor_lose_a_message(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let limits = [20, 30, 40, 50, 60];
    let capacity: i64 = limits.iter().sum();
    let (tenant, ids, token) = tenant_with_capacity(&app, &limits).await;
    let apps = [app.twin().await, app];

    let workers = join_all((0..64).map(|w| worker(&apps, tenant, &token, w))).await;
    let demand: i64 = (0..64).map(wanted).sum();
    assert!(demand > capacity);

    let mut granted_net = 0;
    let mut distinct_claims = 0;
    for log in &workers {
        assert_no_server_errors(&log.replies);
        distinct_claims += log.claims.len();
        granted_net += log.claims.values().map(|(g, r)| g - r).sum::<i64>();
    }
    let drained = drain(&apps[0], tenant, &token).await;
    assert_eq!(
        granted_net + drained,
        capacity,
        "messages lost or counted twice"
    );
    for ((sent, limit, net), expected) in ledger(&apps[1], &ids).into_iter().zip(limits) {
        assert_eq!(
            (i64::from(sent), i64::from(limit), net),
            (expected, expected, expected)
        );
    }
    use relevo::db::schema::claims::dsl::*;
    let logged: i64 = claims.count().get_result(&mut apps[0].db()).unwrap();
    let drain_claims = logged - distinct_claims as i64;
    assert!(
        (0..=limits.len() as i64).contains(&drain_claims),
        "a replayed request was logged as a new claim ({logged} rows, {distinct_claims} claims seen)"
    );
}

fn wanted(worker: usize) -> i64 {
    5 + (worker % 4) as i64
}

async fn worker(apps: &[TestApp; 2], tenant: i64, token: &str, w: usize) -> WorkerLog {
    let mut log = WorkerLog::default();
    let mut still_wanted = wanted(w);
    for step in 0.. {
        if still_wanted <= 0 {
            break;
        }
        let body = json!({"count": 1 + (w + step) % 3, "idempotency_key": format!("w{w}-s{step}")});
        let replies = if (w + step).is_multiple_of(5) {
            // The same request twice at once, through both applications.
            let (a, b) = futures_util::join!(
                apps[0].claim(tenant, token, body.clone()),
                apps[1].claim(tenant, token, body.clone())
            );
            if a.status == StatusCode::OK && b.status == StatusCode::OK {
                assert_eq!(a.body["data"]["claim_id"], b.body["data"]["claim_id"]);
                let fresh = [&a, &b]
                    .iter()
                    .filter(|r| r.body["data"]["replayed"] == false)
                    .count();
                assert_eq!(
                    fresh, 1,
                    "both duplicates were counted: {} {}",
                    a.body, b.body
                );
            }
            vec![a, b]
        } else {
            vec![apps[(w + step) % 2].claim(tenant, token, body).await]
        };
        let granted = replies.iter().find(|r| r.status == StatusCode::OK);
        let Some(reply) = granted else {
            log.replies.extend(replies);
            break;
        };
        let claim_id = reply.body["data"]["claim_id"].as_str().unwrap().to_string();
        let granted = reply.body["data"]["granted"].as_i64().unwrap();
        log.replies.extend(replies);
        let mut released = 0;
        if (w * 7 + step).is_multiple_of(4) {
            // One message failed to send: give it back, twice, as a retrying client would.
            for app in apps {
                let reply = app
                    .release(tenant, token, &claim_id, json!({"count": 1}))
                    .await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            }
            released = 1;
        }
        still_wanted -= granted - released;
        log.claims.insert(claim_id, (granted, released));
    }
    log
}

/// Claims until refused; answers how many messages that took.
async fn drain(app: &TestApp, tenant: i64, token: &str) -> i64 {
    let mut drained = 0;
    loop {
        let reply = app.claim(tenant, token, json!({"count": 1000})).await;
        match reply.status {
            StatusCode::OK => drained += reply.body["data"]["granted"].as_i64().unwrap(),
            StatusCode::TOO_MANY_REQUESTS => return drained,
            other => panic!("drain failed with {other}: {}", reply.body),
        }
    }
}
