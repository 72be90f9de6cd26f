//! Proof of the sender's invariants (SPEC section 6) under concurrency: many claimers,
//! two Relevo applications with separate pools on one database (eight through the
//! pgbouncer), claims of several messages, releases and duplicated requests in the middle.

use std::collections::HashMap;
use std::time::Instant;

use diesel::prelude::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, instance_path, Backend, Reply, TestApp};
use crate::spawn_or_skip;
use crate::{both_backends, through_pooler};

both_backends!(
    every_claimer_is_served_while_capacity_lasts,
    exactly_the_capacity_is_granted_when_demand_exceeds_it,
    waiting_claimers_never_deadlock_at_exhaustion,
    counts_releases_and_replays_never_overshoot_nor_lose_a_message,
    admin_changes_during_claims_never_grant_past_the_limit_in_force,
);
through_pooler!(
    every_claimer_is_served_while_capacity_lasts,
    exactly_the_capacity_is_granted_when_demand_exceeds_it,
    waiting_claimers_never_deadlock_at_exhaustion,
    counts_releases_and_replays_never_overshoot_nor_lose_a_message,
    admin_changes_during_claims_never_grant_past_the_limit_in_force,
);

/// The Relevo processes of a proof, all on `app`'s database: two; through the pooler,
/// eight, whose pools of 16 connections (128 in all) share its 20 server connections.
async fn processes(app: TestApp, backend: Backend) -> Vec<TestApp> {
    let count = if backend == Backend::Pooler { 8 } else { 2 };
    let mut apps = join_all((1..count).map(|_| app.twin())).await;
    apps.push(app);
    apps
}

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
    ids.iter().map(|&instance| app.ledger(instance)).collect()
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

async fn one_claim_each(apps: &[TestApp], tenant: i64, token: &str, claimers: usize) -> Vec<Reply> {
    join_all((0..claimers).map(|n| apps[n % apps.len()].claim(tenant, token, json!({})))).await
}

/// Fewer claimers than capacity: not one of them may hear "none available", even
/// though they outnumber the instances and hit them all at once.
async fn every_claimer_is_served_while_capacity_lasts(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let (tenant, ids, token) = tenant_with_capacity(&app, &[10, 15, 20, 25, 30]).await;
    let apps = processes(app, backend).await;

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
    let apps = processes(app, backend).await;

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
    let apps = processes(app, backend).await;

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
    let apps = processes(app, backend).await;

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

async fn worker(apps: &[TestApp], tenant: i64, token: &str, w: usize) -> WorkerLog {
    let mut log = WorkerLog::default();
    let mut still_wanted = wanted(w);
    for step in 0.. {
        if still_wanted <= 0 {
            break;
        }
        let body = json!({"count": 1 + (w + step) % 3, "idempotency_key": format!("w{w}-s{step}")});
        let replies = if (w + step).is_multiple_of(5) {
            // The same request twice at once, through two applications.
            let (a, b) = futures_util::join!(
                apps[(w + step) % apps.len()].claim(tenant, token, body.clone()),
                apps[(w + step + 1) % apps.len()].claim(tenant, token, body.clone())
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
            vec![
                apps[(w + step) % apps.len()]
                    .claim(tenant, token, body)
                    .await,
            ]
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
            for app in [&apps[w % apps.len()], &apps[(w + 1) % apps.len()]] {
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

/// What an instance is between two admin changes.
#[derive(Clone, Copy, Debug)]
struct InstanceState {
    limit: i64,
    active: bool,
    deleted: bool,
    epoch: i32,
}

#[derive(Clone, Copy, Debug)]
enum AdminChange {
    Reset,
    Limit(i64),
    Toggle,
    Delete,
}

/// One instance's states in order, each with when it may have begun: the state after
/// change `k` took effect somewhere within that change's request.
struct InstanceHistory {
    states: Vec<(InstanceState, Option<(Instant, Instant)>)>,
}

impl InstanceHistory {
    /// The states the instance may have been in at some moment between `from` and
    /// `to`: state `k` holds from (at the earliest) the start of change `k` to (at the
    /// latest) the end of change `k + 1`.
    fn possible(&self, from: Instant, to: Instant) -> Vec<InstanceState> {
        let mut states = Vec::new();
        for (k, (state, began)) in self.states.iter().enumerate() {
            let earliest_start = began.map(|(start, _)| start);
            let latest_end = self
                .states
                .get(k + 1)
                .and_then(|(_, next)| next.map(|(_, end)| end));
            if earliest_start.is_none_or(|start| start <= to)
                && latest_end.is_none_or(|end| end >= from)
            {
                states.push(*state);
            }
        }
        states
    }
}

/// A granted claim as its sender saw it.
struct SeenClaim {
    claim_id: String,
    instance: i64,
    counter_after: i64,
    sent_at: Instant,
    answered_at: Instant,
}

#[derive(Default)]
struct ChaosLog {
    claims: Vec<SeenClaim>,
    /// `(claim_id, given_back)` of every release.
    releases: Vec<(String, i64)>,
    /// Releases of claims made before their instance's last reset.
    after_reset: usize,
    replies: Vec<Reply>,
}

const CHAOS_WORKERS: usize = 32;
const CHAOS_STEPS: usize = 12;

/// 32 workers claim through two applications (the one-statement claim, a sticky
/// recipient and `priority`, so every claim path) and release some of their claims a few
/// steps later, while admins reset counters, lower and raise limits, toggle and delete
/// instances. Every granted claim must fit a state its instance was in during the
/// request (active, not deleted, counter within that state's limit, same count); per
/// count, what was granted minus what was given back stays within the limit; counters
/// equal their log, and the daily totals equal the log, deleted instance included.
async fn admin_changes_during_claims_never_grant_past_the_limit_in_force(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let limits = [30, 24, 20, 24, 16];
    let (tenant, ids, token) = tenant_with_capacity(&app, &limits).await;
    let apps = processes(app, backend).await;
    let total = CHAOS_WORKERS * CHAOS_STEPS;
    let at = |share: usize| total * share / 100;
    use AdminChange::*;
    let plans: [Vec<(usize, AdminChange)>; 5] = [
        vec![],
        vec![
            (at(10), Reset),
            (at(25), Reset),
            (at(40), Reset),
            (at(55), Reset),
            (at(70), Reset),
            (at(85), Reset),
        ],
        vec![
            (at(8), Limit(4)),
            (at(20), Limit(40)),
            (at(35), Limit(2)),
            (at(45), Reset),
            (at(50), Limit(28)),
            (at(65), Limit(6)),
            (at(80), Reset),
            (at(82), Limit(18)),
        ],
        vec![
            (at(5), Toggle),
            (at(15), Toggle),
            (at(30), Reset),
            (at(32), Toggle),
            (at(48), Toggle),
            (at(60), Limit(8)),
            (at(62), Reset),
            (at(75), Toggle),
            (at(90), Toggle),
        ],
        vec![(at(12), Reset), (at(45), Delete)],
    ];
    let (progress, watch) = tokio::sync::watch::channel(0usize);

    let workers =
        join_all((0..CHAOS_WORKERS).map(|w| chaos_worker(&apps, tenant, &token, w, &progress)));
    let admins = join_all(
        ids.iter()
            .zip(limits)
            .zip(&plans)
            .map(|((&id, limit), plan)| {
                admin_changes(&apps[1], tenant, id, limit, plan, watch.clone())
            }),
    );
    let (logs, histories) = futures_util::join!(workers, admins);

    let mut seen = Vec::new();
    let mut given_back: HashMap<String, i64> = HashMap::new();
    let mut after_reset = 0;
    for log in logs {
        after_reset += log.after_reset;
        for reply in &log.replies {
            assert!(
                [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS].contains(&reply.status),
                "unexpected {}: {}",
                reply.status,
                reply.body
            );
        }
        for (claim_id, back) in log.releases {
            *given_back.entry(claim_id).or_default() += back;
        }
        seen.extend(log.claims);
    }
    eprintln!(
        "{} grants, {after_reset} releases after a reset",
        seen.len()
    );
    assert!(after_reset > 0, "no release met a reset");
    assert!(
        seen.len() > 100,
        "too few grants to prove anything: {}",
        seen.len()
    );
    let logged = claim_log(&apps[0]);
    let histories: HashMap<i64, InstanceHistory> = ids.iter().copied().zip(histories).collect();

    for claim in &seen {
        let (_, _, _, epoch) = logged[&claim.claim_id];
        let states = histories[&claim.instance].possible(claim.sent_at, claim.answered_at);
        assert!(
            states.iter().any(|state| state.active
                && !state.deleted
                && state.epoch == epoch
                && claim.counter_after <= state.limit),
            "claim {} left instance {} at {} in count {epoch}, which no state it may have met allows: {states:?}",
            claim.claim_id,
            claim.instance,
            claim.counter_after
        );
    }
    // Per count: granted minus given back never exceeds the largest limit it had.
    let mut per_count: HashMap<(i64, i32), i64> = HashMap::new();
    for (claim_id, (instance, granted, _, epoch)) in &logged {
        let back = given_back.get(claim_id).copied().unwrap_or(0);
        *per_count.entry((*instance, *epoch)).or_default() += granted - back;
    }
    for ((instance, epoch), net) in per_count {
        let largest = histories[&instance]
            .states
            .iter()
            .filter(|(state, _)| state.epoch == epoch)
            .map(|(state, _)| state.limit)
            .max()
            .unwrap();
        assert!(
            net <= largest,
            "instance {instance} granted {net} net in count {epoch}, over its limit {largest}"
        );
    }
    // Each counter is its current count's log; the daily totals are the whole log.
    for row in apps[0].instance_rows() {
        let net: i64 = logged
            .values()
            .filter(|(instance, _, _, epoch)| *instance == row.id && *epoch == row.counter_epoch)
            .map(|(_, granted, released, _)| granted - released)
            .sum();
        assert_eq!(
            i64::from(row.messages_sent_today),
            net,
            "instance {}",
            row.id
        );
    }
    let deleted = ids[4];
    assert!(apps[0].instance_rows().iter().all(|row| row.id != deleted));
    for &instance in &ids {
        let (granted, released) = logged
            .values()
            .filter(|(id, ..)| *id == instance)
            .fold((0, 0), |(g, r), (_, granted, released, _)| {
                (g + granted, r + released)
            });
        assert_eq!(
            daily_totals(&apps[0], instance),
            (granted, released),
            "instance {instance}"
        );
    }
}

async fn chaos_worker(
    apps: &[TestApp],
    tenant: i64,
    token: &str,
    w: usize,
    progress: &tokio::sync::watch::Sender<usize>,
) -> ChaosLog {
    let mut log = ChaosLog::default();
    let mut held: Vec<Option<String>> = Vec::new();
    for step in 0..CHAOS_STEPS {
        let mut body =
            json!({"count": 1 + (w + step) % 3, "idempotency_key": format!("c{w}-{step}")});
        match (w + step) % 4 {
            0 => body["strategy"] = json!("priority"),
            1 => body["recipient"] = json!(format!("+5731000{:05}", w)),
            _ => {}
        }
        let app = &apps[(w + step) % apps.len()];
        let sent_at = Instant::now();
        let reply = app.claim(tenant, token, body).await;
        let answered_at = Instant::now();
        progress.send_modify(|n| *n += 1);
        held.push(None);
        if reply.status == StatusCode::OK {
            let data = &reply.body["data"];
            let claim_id = data["claim_id"].as_str().unwrap().to_string();
            log.claims.push(SeenClaim {
                claim_id: claim_id.clone(),
                instance: data["instance"]["id"].as_i64().unwrap(),
                counter_after: data["messages_sent_today"].as_i64().unwrap(),
                sent_at,
                answered_at,
            });
            held[step] = Some(claim_id);
        }
        log.replies.push(reply);
        // Releases come a few steps late, so that resets fall in between.
        if step >= 3 && (w + step).is_multiple_of(2) {
            if let Some(claim_id) = held[step - 3].take() {
                release_for_chaos(app, tenant, token, &claim_id, step, &mut log).await;
            }
        }
    }
    for claim_id in held.into_iter().flatten().filter(|_| w.is_multiple_of(3)) {
        release_for_chaos(&apps[w % apps.len()], tenant, token, &claim_id, w, &mut log).await;
    }
    log
}

async fn release_for_chaos(
    app: &TestApp,
    tenant: i64,
    token: &str,
    claim_id: &str,
    n: usize,
    log: &mut ChaosLog,
) {
    let body = if n.is_multiple_of(3) {
        json!({})
    } else {
        json!({"count": 1})
    };
    let reply = app.release(tenant, token, claim_id, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let back = reply.body["data"]["given_back"].as_i64().unwrap();
    log.releases.push((claim_id.to_string(), back));
    if reply.body["data"]["counted_before_reset"] == true {
        log.after_reset += 1;
    }
}

/// Applies one instance's plan in order, each change once the claims have made the
/// given progress; answers the states the instance went through.
async fn admin_changes(
    app: &TestApp,
    tenant: i64,
    id: i64,
    limit: i64,
    plan: &[(usize, AdminChange)],
    mut progress: tokio::sync::watch::Receiver<usize>,
) -> InstanceHistory {
    let mut state = InstanceState {
        limit,
        active: true,
        deleted: false,
        epoch: 0,
    };
    let mut history = InstanceHistory {
        states: vec![(state, None)],
    };
    for &(after_claims, change) in plan {
        progress
            .wait_for(|done| *done >= after_claims)
            .await
            .expect("claims still running");
        let path = instance_path(tenant, id);
        let start = Instant::now();
        // A 503 `database.unavailable` (an overloaded machine) changed nothing and is
        // retried, as its Retry-After says; the change then happened within [start, end].
        let mut reply = apply_admin_change(app, &path, change).await;
        for _ in 0..5 {
            if reply.status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            assert_error(
                &reply,
                StatusCode::SERVICE_UNAVAILABLE,
                "database.unavailable",
            );
            reply = apply_admin_change(app, &path, change).await;
        }
        let end = Instant::now();
        assert_eq!(reply.status, StatusCode::OK, "{change:?}: {}", reply.body);
        match change {
            AdminChange::Reset => state.epoch += 1,
            AdminChange::Limit(limit) => state.limit = limit,
            AdminChange::Toggle => state.active = reply.body["data"]["is_active"] == true,
            AdminChange::Delete => state.deleted = true,
        }
        history.states.push((state, Some((start, end))));
    }
    history
}

async fn apply_admin_change(app: &TestApp, path: &str, change: AdminChange) -> Reply {
    match change {
        AdminChange::Reset => admin_post(app, &format!("{path}/reset-counter")).await,
        AdminChange::Limit(limit) => {
            app.admin(
                Method::PUT,
                path,
                Some(&json!({"daily_message_limit": limit})),
            )
            .await
        }
        AdminChange::Toggle => admin_post(app, &format!("{path}/toggle-active")).await,
        AdminChange::Delete => app.admin(Method::DELETE, path, None).await,
    }
}

async fn admin_post(app: &TestApp, path: &str) -> Reply {
    app.admin(Method::POST, path, None).await
}

/// The send log by claim id: `(instance_id, granted, released, counter_epoch)`.
fn claim_log(app: &TestApp) -> HashMap<String, (i64, i64, i64, i32)> {
    use relevo::db::schema::claims;
    claims::table
        .select((
            claims::public_id,
            claims::instance_id,
            claims::granted,
            claims::released,
            claims::counter_epoch,
        ))
        .load::<(String, i64, i32, i32, i32)>(&mut app.db())
        .unwrap()
        .into_iter()
        .map(|(id, instance, granted, released, epoch)| {
            (
                id,
                (instance, i64::from(granted), i64::from(released), epoch),
            )
        })
        .collect()
}

/// `(granted, released)` of an instance's daily totals today.
fn daily_totals(app: &TestApp, instance: i64) -> (i64, i64) {
    use relevo::db::schema::instance_daily_usage::dsl::*;
    let (g, r): (i32, i32) = instance_daily_usage
        .filter(instance_id.eq(instance))
        .select((granted, released))
        .first(&mut app.db())
        .unwrap_or((0, 0));
    (i64::from(g), i64::from(r))
}
