//! Group commit of claims (`relevo::sender::batch`): batches of a chosen make-up run
//! through a batcher on the app's database, and the app's own batcher under load. Each
//! claim of a batch must come out as it would alone; a batch that fails in the database
//! counts nothing, and its claims then run alone.

use diesel::prelude::*;
use futures_util::future::join_all;
use relevo::auth::SenderCaller;
use relevo::clock::Clock;
use relevo::db::claims::ClaimOutcome;
use relevo::domain::RotationStrategy;
use relevo::error::ApiError;
use relevo::sender::batch::{ClaimJob, Claimed};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::{both_backends, spawn_or_skip, through_pooler};

both_backends!(
    each_claim_of_a_batch_keeps_its_own_outcome,
    a_batch_that_fails_in_the_database_counts_each_claim_once,
    concurrent_claims_are_committed_in_batches,
);
through_pooler!(
    each_claim_of_a_batch_keeps_its_own_outcome,
    a_batch_that_fails_in_the_database_counts_each_claim_once,
);

fn job(app: &TestApp, token: &str, tenant: Option<i64>) -> ClaimJob {
    ClaimJob {
        caller: SenderCaller::Token {
            token_hash: relevo::auth::sender::hash_token(token),
        },
        tenant_key: tenant.map(|id| id.to_string()),
        count: 1,
        recipient: None,
        strategy: None,
        idempotency_key: None,
        now: app.clock.now(),
    }
}

async fn run_batch(app: &TestApp, jobs: Vec<ClaimJob>) -> Vec<Result<Claimed, ApiError>> {
    let batcher = app.claim_batcher();
    tokio::task::spawn_blocking(move || batcher.run_batch(&jobs))
        .await
        .expect("the batch ran")
}

/// The grant of an outcome: (instance id, granted, claim id).
fn granted(outcome: &Result<Claimed, ApiError>) -> (i64, i32, String) {
    match outcome {
        Ok(Claimed {
            outcome: ClaimOutcome::Granted(claim, instance),
            ..
        }) => (instance.id, claim.granted, claim.public_id.clone()),
        Ok(_) => panic!("not a grant"),
        Err(error) => panic!("refused: {error}"),
    }
}

fn refusal(outcome: &Result<Claimed, ApiError>) -> (u16, String) {
    match outcome {
        Err(error) => (
            error.status().as_u16(),
            error
                .error_key()
                .map(|key| key.to_string())
                .unwrap_or_default(),
        ),
        Ok(claimed) => panic!(
            "granted where a refusal was due: {:?} for tenant {}",
            claimed.outcome, claimed.tenant.id
        ),
    }
}

/// Mixed tenants, counts, strategies, recipients and keys, a replay of a key first used in
/// the same batch, a tenant exhausted half-way through, a revoked caller and a token on
/// another tenant's path: each claim answers as it would alone, and the counters, the log
/// and the daily totals agree.
async fn each_claim_of_a_batch_keeps_its_own_outcome(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let busy = app.seed_tenant().await;
    let a1 = app.instance(busy, "+573005550101", "busy_1", 5).await;
    let a2 = app.instance(busy, "+573005550102", "busy_2", 10).await;
    let busy_token = app.sender_token(busy).await;
    let small = app
        .create_tenant(json!({
            "nombre": "Pequeña", "slug": "small",
            "callback_url": "https://hooks.example.com/relevo"
        }))
        .await;
    assert_eq!(small.status, StatusCode::CREATED, "{}", small.body);
    let small = small.body["data"]["id"].as_i64().unwrap();
    let b1 = app.instance(small, "+573005550201", "small_1", 2).await;
    let small_token = app.sender_token(small).await;

    let keyed = |key: &str, count: i32| ClaimJob {
        idempotency_key: Some(key.to_string()),
        count,
        strategy: Some(RotationStrategy::LeastUsed),
        ..job(&app, &busy_token, Some(busy))
    };
    let jobs = vec![
        // 0: two on the tenant's default strategy (round robin).
        ClaimJob {
            count: 2,
            ..job(&app, &busy_token, Some(busy))
        },
        // 1: five, keyed, least used.
        keyed("campaign-7", 5),
        // 2: the same key again: the claim of 1, counted once.
        keyed("campaign-7", 5),
        // 3: sticky to a recipient.
        ClaimJob {
            recipient: Some("+573009876543".into()),
            ..job(&app, &busy_token, None)
        },
        // 4: fill first.
        ClaimJob {
            strategy: Some(RotationStrategy::Priority),
            ..job(&app, &busy_token, Some(busy))
        },
        // 5: the small tenant's whole quota, on the implicit path.
        ClaimJob {
            count: 2,
            ..job(&app, &small_token, None)
        },
        // 6: nothing left for it.
        job(&app, &small_token, Some(small)),
        // 7: a token nobody issued.
        job(
            &app,
            "rlv_snd_not-a-live-token-0000000000000000",
            Some(busy),
        ),
        // 8: the small tenant's token on the busy tenant's path.
        job(&app, &small_token, Some(busy)),
        // 9: the same recipient again: the instance of 3.
        ClaimJob {
            recipient: Some("+573009876543".into()),
            ..job(&app, &busy_token, Some(busy))
        },
    ];
    let outcomes = run_batch(&app, jobs).await;

    let (first, two, _) = granted(&outcomes[0]);
    assert_eq!(two, 2);
    let (keyed_on, five, keyed_claim) = granted(&outcomes[1]);
    assert_eq!(five, 5, "least used picks the instance with room for five");
    match &outcomes[2] {
        Ok(Claimed {
            outcome: ClaimOutcome::Replayed(claim, Some(_)),
            ..
        }) => assert_eq!(claim.public_id, keyed_claim),
        other => panic!("the key was not replayed: {:?}", other.as_ref().err()),
    }
    let (sticky_on, _, _) = granted(&outcomes[3]);
    let (_, one, _) = granted(&outcomes[4]);
    assert_eq!(one, 1);
    let (small_on, all_of_it, _) = granted(&outcomes[5]);
    assert_eq!((small_on, all_of_it), (b1, 2));
    assert!(
        matches!(
            &outcomes[6],
            Ok(Claimed {
                outcome: ClaimOutcome::NoneAvailable { any_active: true },
                ..
            })
        ),
        "the small tenant had nothing left"
    );
    assert_eq!(refusal(&outcomes[7]).0, 401);
    assert_eq!(refusal(&outcomes[8]), (404, "tenant.not_found".into()));
    assert_eq!(
        granted(&outcomes[9]).0,
        sticky_on,
        "the recipient stays put"
    );
    assert!([a1, a2].contains(&first) && [a1, a2].contains(&keyed_on));

    // Each grant shows the counter as its own claim left it: on one instance, they rise
    // by each claim's grant up to the final count.
    let mut shown: std::collections::HashMap<i64, Vec<(i32, i32)>> = Default::default();
    for outcome in outcomes.iter().flatten() {
        if let ClaimOutcome::Granted(claim, instance) = &outcome.outcome {
            shown
                .entry(instance.id)
                .or_default()
                .push((instance.messages_sent_today, claim.granted));
        }
    }
    for (id, grants) in &shown {
        let mut expected = 0;
        for (counter, granted) in grants {
            expected += granted;
            assert_eq!(*counter, expected, "instance {id}: {grants:?}");
        }
        assert_eq!(expected, app.ledger(*id).0, "instance {id}");
    }

    // 2 + 5 + 1 + 1 + 1 on the busy tenant, 2 on the small one: counters, log and daily
    // totals agree, and no instance is past its limit.
    let mut total = 0;
    for id in [a1, a2, b1] {
        let (sent, limit, net) = app.ledger(id);
        assert_eq!(
            i64::from(sent),
            net,
            "instance {id}: counter and log disagree"
        );
        assert!(sent <= limit, "instance {id} is past its limit");
        total += sent;
    }
    assert_eq!(total, 12);
    let statistics = app
        .admin(
            Method::GET,
            &format!("/api/v1/tenants/{busy}/statistics"),
            None,
        )
        .await;
    assert_eq!(statistics.status, StatusCode::OK, "{}", statistics.body);
    let data = &statistics.body["data"];
    assert_eq!(data["sent_today"], json!(10), "{data}");
    let today = data["history"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (&today["sent"], &today["released"]),
        (&json!(10), &json!(0))
    );

    // The small tenant ran out once: one `quota.exhausted`, although two claims of the
    // batch met the exhaustion.
    use relevo::db::schema::webhook_events;
    let told: i64 = webhook_events::table
        .filter(webhook_events::tenant_id.eq(small))
        .filter(webhook_events::event_type.eq("quota.exhausted"))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(told, 1);
}

/// A claim that fails in the database (a trigger refuses its key) voids its batch: the
/// others run again alone and are counted once, the failing one not at all.
async fn a_batch_that_fails_in_the_database_counts_each_claim_once(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let ids = [
        app.instance(tenant, "+573005550301", "fail_1", 50).await,
        app.instance(tenant, "+573005550302", "fail_2", 50).await,
    ];
    let token = app.sender_token(tenant).await;
    let trigger = match backend {
        Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON claims WHEN NEW.idempotency_key = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        Backend::Postgres | Backend::Pooler => vec![
            "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.idempotency_key = 'boom' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON claims FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
        ],
    };
    let mut conn = app.db();
    for statement in trigger {
        diesel::sql_query(statement).execute(&mut conn).unwrap();
    }

    let key = |key: &str| ClaimJob {
        idempotency_key: Some(key.to_string()),
        count: 3,
        ..job(&app, &token, Some(tenant))
    };
    let jobs = vec![
        key("ok-1"),
        key("boom"),
        key("ok-2"),
        job(&app, &token, None),
    ];
    let outcomes = run_batch(&app, jobs).await;
    assert_eq!(granted(&outcomes[0]).1, 3);
    assert_eq!(refusal(&outcomes[1]).0, 500);
    assert_eq!(granted(&outcomes[2]).1, 3);
    assert_eq!(granted(&outcomes[3]).1, 1);

    let counted: i32 = ids.iter().map(|&id| app.ledger(id).0).sum();
    let logged: i64 = ids.iter().map(|&id| app.ledger(id).2).sum();
    assert_eq!((counted, logged), (7, 7), "each claim that succeeded, once");

    // The keys of the claims that ran alone replay; nothing is counted again.
    let replays = run_batch(&app, vec![key("ok-1"), key("ok-2")]).await;
    for outcome in &replays {
        assert!(matches!(
            outcome,
            Ok(Claimed {
                outcome: ClaimOutcome::Replayed(..),
                ..
            })
        ));
    }
    let counted: i32 = ids.iter().map(|&id| app.ledger(id).0).sum();
    assert_eq!(counted, 7);
}

/// The app's own batcher: a lone claim runs alone; concurrent claims are committed in
/// batches (its `claim_batch_size` histogram says so), each answered and counted once.
async fn concurrent_claims_are_committed_in_batches(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let tenant = app.seed_tenant().await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let phone = format!("+5730055504{n:02}");
        ids.push(
            app.instance(tenant, &phone, &format!("load_{n}"), 100)
                .await,
        );
    }
    let token = app.sender_token(tenant).await;

    let lone = app.claim(tenant, &token, json!({})).await;
    assert_eq!(lone.status, StatusCode::OK, "{}", lone.body);
    assert_eq!(batches(&app).await, (0, 0), "a lone claim is no batch");

    let replies = join_all((0..200).map(|_| app.claim(tenant, &token, json!({})))).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let mut counted = 0;
    for &id in &ids {
        let (sent, limit, net) = app.ledger(id);
        assert_eq!(i64::from(sent), net);
        assert!(sent <= limit);
        counted += sent;
    }
    assert_eq!(counted, 201);
    let (count, sum) = batches(&app).await;
    assert!(count >= 1, "200 claims at once formed no batch");
    assert!(
        sum <= 200 && sum >= 2 * count,
        "batches of {sum} claims in {count}"
    );
}

/// `(batches, claims in them)` from the app's `/metrics`.
async fn batches(app: &TestApp) -> (u64, u64) {
    let text = app.metrics_text().await;
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    (
        value("relevo_claim_batch_size_count "),
        value("relevo_claim_batch_size_sum "),
    )
}
