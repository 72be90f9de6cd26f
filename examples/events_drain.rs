//! Benchmark of outbound events (issue 11, item 7), for `scripts/bench-events.sh`.
//!
//! ```text
//! events_drain --backend sqlite|postgres [--events 10000] [--tenants 50] [--claimers 16]
//!              [--reference 5] [--concurrency 4] [--poll-ms 100]
//!              [--pg-url postgres://postgres@127.0.0.1:5432]
//! ```
//!
//! In one process, on a fresh database: Relevo itself (the real application, system
//! clock, HTTP on a local port), a receiver on another local port that answers 200 to
//! every delivery (and checks nothing, to cost little), and a claim load generator.
//!
//! 1. Seeds a claim tenant (10 instances, a sender token) and `--tenants` tenants whose
//!    callback URL is the receiver, through the REST API.
//! 2. Reference: `--claimers` concurrent claimers for `--reference` seconds, no events.
//! 3. Writes `--events` events to the outbox (spread over the tenants), then drains it
//!    with the delivery worker's steps (`Dispatcher::tick`, the code the worker loop runs
//!    per tenant) while the same claimers run, until every event is delivered.
//!
//! Prints deliveries/s, the claims/s during the drain and the reference, their ratio,
//! and checks that the receiver got exactly `--events` deliveries and that the outbox
//! holds no pending or failed event. Exit status 1 when a check fails.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::Utc;
use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use relevo::clock::SystemClock;
use relevo::config::Settings;
use relevo::db::schema::webhook_events;
use relevo::db::{DbConnection, DbConnectionManager};
use relevo::events::EventType;
use relevo::startup::Application;
use serde_json::{json, Value};

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const ADMIN_EMAIL: &str = "bench@relevo.local";
const ADMIN_PASSWORD: &str = "bench-admin-password-1";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("events_drain: {error}");
            std::process::exit(2);
        }
    }
}

fn flags(args: &[String]) -> AnyResult<HashMap<String, String>> {
    let mut flags = HashMap::new();
    let mut rest = args.iter();
    while let Some(name) = rest.next() {
        let name = name.strip_prefix("--").ok_or("flags are --name value")?;
        let value = rest.next().ok_or("every flag takes a value")?;
        flags.insert(name.to_string(), value.clone());
    }
    Ok(flags)
}

async fn run(args: &[String]) -> AnyResult<bool> {
    let flags = flags(args)?;
    let get = |name: &str, default: &str| flags.get(name).cloned().unwrap_or(default.into());
    let backend = get("backend", "sqlite");
    let events: usize = get("events", "10000").parse()?;
    let tenants: usize = get("tenants", "50").parse()?;
    let claimers: usize = get("claimers", "16").parse()?;
    let reference = Duration::from_secs(get("reference", "5").parse()?);
    let pg_url = get("pg-url", "postgres://postgres@127.0.0.1:5432");
    let concurrency = get("concurrency", "4");
    let poll_ms = get("poll-ms", "100");

    let dir = tempfile::tempdir()?;
    let (database_url, drop_database) = match backend.as_str() {
        "sqlite" => (
            dir.path().join("relevo.db").to_string_lossy().into_owned(),
            None,
        ),
        "postgres" => {
            let name = format!("relevo_bench_events_{}", uuid::Uuid::new_v4().simple());
            let mut admin = PgConnection::establish(&format!("{pg_url}/postgres"))?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
            (format!("{pg_url}/{name}"), Some(name))
        }
        other => return Err(format!("unknown backend `{other}`").into()),
    };
    let result = measure(
        &backend,
        &database_url,
        (events, tenants, &concurrency, &poll_ms),
        claimers,
        reference,
    )
    .await;
    if let Some(name) = drop_database {
        let mut admin = PgConnection::establish(&format!("{pg_url}/postgres"))?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)?;
    }
    result
}

async fn measure(
    backend: &str,
    database_url: &str,
    (events, tenants, concurrency, poll_ms): (usize, usize, &str, &str),
    claimers: usize,
    reference: Duration,
) -> AnyResult<bool> {
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", database_url),
        ("RELEVO_BIND", "127.0.0.1:0"),
        (
            "RELEVO_JWT_SECRET",
            "bench-jwt-secret-that-is-long-enough-0123456789",
        ),
        (
            "RELEVO_ENCRYPTION_KEY",
            "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        ),
        ("RELEVO_ADMIN_EMAIL", ADMIN_EMAIL),
        ("RELEVO_ADMIN_PASSWORD", ADMIN_PASSWORD),
        // 0: the drain is driven step by step below; otherwise the worker loop of every
        // process runs, idle until the events are queued.
        ("RELEVO_WEBHOOK_POLL_MS", poll_ms),
        ("RELEVO_WEBHOOK_CONCURRENCY", concurrency),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = Settings::from_vars(&vars).map_err(|e| e.to_string())?;
    let manager_settings = settings.clone();
    let application = Application::build(settings, Arc::new(SystemClock)).await?;
    let base = format!("http://127.0.0.1:{}", application.port());
    let dispatcher = application.dispatcher();
    tokio::spawn(application.run_until_stopped());

    let received = Arc::new(AtomicUsize::new(0));
    let receiver_url = start_receiver(received.clone())?;

    let client = reqwest::Client::new();
    let token = login(&client, &base).await?;
    let (claim_path, sender_token) = seed_claims(&client, &base, &token).await?;
    let mut tenant_ids = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let body = json!({"nombre": format!("Bench {i}"), "slug": format!("bench-events-{i}"),
                          "callback_url": receiver_url});
        let reply = post(&client, &format!("{base}/api/v1/tenants"), &token, &body).await?;
        tenant_ids.push(reply["data"]["id"].as_i64().ok_or("a tenant id")?);
    }

    eprintln!("==> {backend}: reference, {claimers} claimers for {reference:?}");
    let (claims_alone, _) = claim_load(
        &client,
        &format!("{base}{claim_path}"),
        &sender_token,
        claimers,
        Stop::After(reference),
    )
    .await;
    let reference_rate = claims_alone as f64 / reference.as_secs_f64().max(1e-9);

    eprintln!("==> {backend}: queueing {events} events over {tenants} tenants");
    let manager = DbConnectionManager::new(&manager_settings);
    let mut conn: DbConnection = diesel::r2d2::ManageConnection::connect(&manager)?;
    let now = Utc::now().naive_utc();
    relevo::db::write_transaction(&mut conn, |conn| {
        for i in 0..events {
            let tenant = tenant_ids[i % tenant_ids.len()];
            relevo::events::record(
                conn,
                tenant,
                EventType::MessageReceived,
                json!({"session_id": "bench", "sender_number": "+573001234567",
                       "message_content": format!("message {i}"), "message_type": "text"}),
                None,
                now,
            )?;
        }
        Ok::<_, diesel::result::Error>(())
    })?;

    eprintln!("==> {backend}: draining while {claimers} claimers run");
    let done = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (client, url, token, done) = (
            client.clone(),
            format!("{base}{claim_path}"),
            sender_token.clone(),
            done.clone(),
        );
        async move { claim_load(&client, &url, &token, claimers, Stop::When(done)).await }
    });
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let mut steps = 0;
    if poll_ms == "0" {
        // Driven step by step on this runtime (`Dispatcher::tick`).
        loop {
            let report = dispatcher.tick().await.map_err(|e| e.to_string())?;
            steps += 1;
            if report.attempts() == 0 {
                break;
            }
        }
    } else {
        // The worker loop (its own lower-priority thread) finds the events at its next
        // poll; done when the outbox has nothing left to deliver. The receiver's count is
        // watched first, so that the check does not load the database during the drain.
        while received.load(Ordering::SeqCst) < events {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        loop {
            steps += 1;
            let left: i64 = webhook_events::table
                .filter(webhook_events::status.ne("delivered"))
                .count()
                .get_result(&mut conn)?;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let drain = started.elapsed();
    let cpu = process_cpu_seconds() - cpu_before;
    done.store(true, Ordering::SeqCst);
    let (claims_during, claim_elapsed) = load.await?;
    let during_rate = claims_during as f64 / claim_elapsed.as_secs_f64().max(1e-9);
    let delivery_rate = events as f64 / drain.as_secs_f64();

    let pending: i64 = webhook_events::table
        .filter(webhook_events::status.ne("delivered"))
        .count()
        .get_result(&mut conn)?;
    let got = received.load(Ordering::SeqCst);
    println!(
        "RESULT backend={backend} events={events} tenants={tenants} concurrency={concurrency} poll_ms={poll_ms} drain_s={:.2} deliveries_per_s={delivery_rate:.0} steps={steps} process_cpu_s={cpu:.2} claims_per_s_reference={reference_rate:.0} claims_per_s_during_drain={during_rate:.0} ratio={:.2} received={got} not_delivered={pending}",
        drain.as_secs_f64(),
        during_rate / reference_rate.max(1.0),
    );
    let ok = got == events && pending == 0;
    if !ok {
        eprintln!("!!! {backend}: the receiver got {got} of {events}; {pending} not delivered");
    }
    Ok(ok)
}

/// CPU time this process (Relevo, the receiver and the claimers) has used, in seconds.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// A receiver answering 200 to everything, counting what it got.
fn start_receiver(received: Arc<AtomicUsize>) -> AnyResult<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/events", listener.local_addr()?);
    let counter = web::Data::from(received);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(counter.clone())
            .default_service(web::to(|counter: web::Data<AtomicUsize>| async move {
                counter.fetch_add(1, Ordering::Relaxed);
                HttpResponse::NoContent().finish()
            }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(url)
}

async fn login(client: &reqwest::Client, base: &str) -> AnyResult<String> {
    let reply: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    Ok(reply["data"]["access_token"]
        .as_str()
        .ok_or("a token")?
        .to_string())
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> AnyResult<Value> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {body}").into());
    }
    Ok(body)
}

/// A tenant with 10 instances that never run out, and a sender token.
async fn seed_claims(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> AnyResult<(String, String)> {
    let tenant = post(
        client,
        &format!("{base}/api/v1/tenants"),
        token,
        &json!({"nombre": "Claims", "slug": "bench-claims"}),
    )
    .await?;
    let tenant = tenant["data"]["id"].as_i64().ok_or("a tenant id")?;
    for i in 0..10 {
        post(
            client,
            &format!("{base}/api/v1/tenants/{tenant}/whatsapp-instances"),
            token,
            &json!({"phone_number": format!("+5730012300{i:02}"), "instance_name": format!("bench-{i}"),
                    "evolution_api_key": "bench-key", "daily_message_limit": 100_000}),
        )
        .await?;
    }
    let sender = post(
        client,
        &format!("{base}/api/v1/tenants/{tenant}/sender-tokens"),
        token,
        &json!({"name": "bench"}),
    )
    .await?;
    Ok((
        format!("/api/v1/tenants/{tenant}/sender/claim"),
        sender["data"]["token"]
            .as_str()
            .ok_or("a token")?
            .to_string(),
    ))
}

enum Stop {
    After(Duration),
    When(Arc<AtomicBool>),
}

/// `claimers` concurrent claimers until told to stop: claims granted, and for how long.
async fn claim_load(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    claimers: usize,
    stop: Stop,
) -> (usize, Duration) {
    let granted = Arc::new(AtomicUsize::new(0));
    let flag = match &stop {
        Stop::After(_) => Arc::new(AtomicBool::new(false)),
        Stop::When(flag) => flag.clone(),
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..claimers)
        .map(|_| {
            let (client, url, token, granted, flag) = (
                client.clone(),
                url.to_string(),
                token.to_string(),
                granted.clone(),
                flag.clone(),
            );
            tokio::spawn(async move {
                while !flag.load(Ordering::Relaxed) {
                    let answer = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"count": 1}))
                        .send()
                        .await;
                    if let Ok(response) = answer {
                        if response.status().is_success() {
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = response.bytes().await;
                    }
                }
            })
        })
        .collect();
    if let Stop::After(duration) = stop {
        tokio::time::sleep(duration).await;
        flag.store(true, Ordering::SeqCst);
    }
    for worker in workers {
        let _ = worker.await;
    }
    (granted.load(Ordering::Relaxed), started.elapsed())
}
