//! The parity proof of the claim paths (issue 22): one scripted sequence of operations,
//! one at a time, on SQLite, on PostgreSQL with lone claims (the one-statement claim and
//! the claim transaction) and on PostgreSQL with every claim forced through the batch's
//! path (`RELEVO_CLAIM_BATCH_MIN=1`: the `relevo_claim_batch` function). Every step's
//! outcome (which instance, how many granted, the counters, the views and statistics
//! after it) must be the same on all three, step by step: each path is the one rule.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::evolution_fake::{spawn_reachable_with_fake, FakeEvolution};
use crate::helpers::{instance_path, Backend, TestApp};
use crate::messages::connected;

/// One run of the script: an app, its fake Evolution, the tenant, and the claims seen so
/// far (their ids differ between runs; the script names them by their place).
struct Run {
    app: TestApp,
    fake: FakeEvolution,
    tenant: i64,
    token: String,
    instances: Vec<(String, i64)>,
    claims: Vec<String>,
}

impl Run {
    async fn start(backend: Backend, extra: &[(&str, &str)]) -> Option<Self> {
        let (app, fake) = spawn_reachable_with_fake(backend, extra).await?;
        // West of UTC, so that the tenant's day and UTC's differ.
        let tenant = app.tenant_named("parity", "America/Bogota").await;
        let token = app.sender_token(tenant).await;
        Some(Self {
            app,
            fake,
            tenant,
            token,
            instances: Vec::new(),
            claims: Vec::new(),
        })
    }

    fn id(&self, name: &str) -> i64 {
        self.instances
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, id)| *id)
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    /// An instance registered by hand (never checked: `unknown`, which may send).
    async fn registered(&mut self, name: &str, limit: i64, priority: i64) -> String {
        let phone = format!("+5730055{:05}", self.instances.len());
        let reply = self
            .app
            .create_instance(
                self.tenant,
                &json!({"phone_number": phone, "instance_name": name, "evolution_api_key": "key-123",
                        "daily_message_limit": limit, "priority": priority}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        self.instances
            .push((name.into(), reply.body["data"]["id"].as_i64().unwrap()));
        format!("registered {name}")
    }

    /// An instance Relevo provisioned and WhatsApp linked (`connected`).
    async fn linked(&mut self, name: &str, limit: i64) -> String {
        let id = connected(&self.app, &self.fake, self.tenant, name, limit).await;
        self.instances.push((name.into(), id));
        format!("linked {name}")
    }

    /// An instance Relevo provisioned that waits for its first QR scan.
    async fn unpaired(&mut self, name: &str, limit: i64) -> String {
        let reply = self
            .app
            .provision(
                self.tenant,
                &json!({"instance_name": name, "daily_message_limit": limit}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        self.instances
            .push((name.into(), reply.body["data"]["id"].as_i64().unwrap()));
        format!("unpaired {name}")
    }

    /// The claim's name in the script: `#n`, its place among the claims seen.
    fn claim_name(&mut self, public_id: &str) -> String {
        let place = match self.claims.iter().position(|seen| seen == public_id) {
            Some(place) => place,
            None => {
                self.claims.push(public_id.to_string());
                self.claims.len() - 1
            }
        };
        format!("#{place}")
    }

    async fn claim(&mut self, body: Value) -> String {
        let reply = self.app.claim(self.tenant, &self.token, body.clone()).await;
        let data = &reply.body["data"];
        if reply.status != StatusCode::OK {
            return format!("claim {body}: {} {}", reply.status, reply.body["error_key"]);
        }
        let claim = self.claim_name(data["claim_id"].as_str().unwrap());
        format!(
            "claim {body}: {claim} on {} granted {} sent {} left {}",
            data["instance"]["instance_name"],
            data["granted"],
            data["messages_sent_today"],
            data["remaining_quota"]
        )
    }

    /// Releases `unsent` messages (all with `None`) of the script's claim `#place`.
    async fn release(&mut self, place: usize, unsent: Option<i64>) -> String {
        let body = match unsent {
            Some(count) => json!({"count": count}),
            None => json!({}),
        };
        let claim_id = self.claims[place].clone();
        let reply = self
            .app
            .release(self.tenant, &self.token, &claim_id, body)
            .await;
        let data = &reply.body["data"];
        format!(
            "release #{place} {unsent:?}: {} {} granted {} released {} given back {} before reset {} sent {} left {}",
            reply.status,
            reply.body["error_key"],
            data["granted"],
            data["released"],
            data["given_back"],
            data["counted_before_reset"],
            data["messages_sent_today"],
            data["remaining_quota"]
        )
    }

    /// A text sent through Relevo to `to` (which claims sticky to it).
    async fn send(&mut self, to: &str, key: Option<&str>) -> String {
        let path = format!("/api/v1/tenants/{}/messages", self.tenant);
        let mut body = json!({"to": to, "text": "Hola, tu pedido está en camino."});
        if let Some(key) = key {
            body["idempotency_key"] = json!(key);
        }
        let reply = self
            .app
            .send(Method::POST, &path, Some(&self.token), Some(&body))
            .await;
        let data = &reply.body["data"];
        let attempts: Vec<String> = data["attempts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|attempt| format!("{}:{}", attempt["instance_name"], attempt["error_key"]))
            .collect();
        format!(
            "send to {to} key {key:?}: {} {} {} on {} attempts {attempts:?}",
            reply.status,
            reply.body["error_key"],
            data["status"],
            data["instance"]["instance_name"]
        )
    }

    async fn admin(
        &mut self,
        method: Method,
        name: &str,
        action: &str,
        body: Option<Value>,
    ) -> String {
        let path = format!("{}{action}", instance_path(self.tenant, self.id(name)));
        let reply = self.app.admin(method.clone(), &path, body.as_ref()).await;
        assert!(reply.status.is_success(), "{method} {path}: {}", reply.body);
        format!("{method} {name}{action} {}", body.unwrap_or_default())
    }

    fn advance(&self, hours: i64) -> String {
        self.app.clock.advance(Duration::hours(hours));
        format!("clock +{hours} h")
    }

    /// What the views and statistics say after a step: each instance's counter,
    /// `remaining_quota` and `can_send_messages`, and the tenant's capacity.
    async fn views(&self) -> String {
        let list = self
            .app
            .admin(
                Method::GET,
                &format!(
                    "/api/v1/tenants/{}/whatsapp-instances?per_page=100",
                    self.tenant
                ),
                None,
            )
            .await;
        let mut shown: Vec<String> = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|instance| {
                format!(
                    "{}: sent {} left {} can send {} active {} {}",
                    instance["instance_name"],
                    instance["messages_sent_today"],
                    instance["remaining_quota"],
                    instance["can_send_messages"],
                    instance["is_active"],
                    instance["connection_status"]
                )
            })
            .collect();
        shown.sort();
        let statistics = self
            .app
            .admin(
                Method::GET,
                &format!("/api/v1/tenants/{}/statistics", self.tenant),
                None,
            )
            .await;
        let data = &statistics.body["data"];
        format!(
            "{} | available {} remaining {} sent {} limit {}",
            shown.join("; "),
            data["available_instances_count"],
            data["remaining_today"],
            data["sent_today"],
            data["daily_limit"]
        )
    }
}

/// The script: each step's outcome, then the views after it.
async fn script(run: &mut Run) -> Vec<String> {
    let mut log = Vec::new();
    macro_rules! step {
        ($outcome:expr) => {{
            let outcome = $outcome;
            log.push(outcome);
            log.push(run.views().await);
        }};
    }
    // Only an instance waiting for its first scan: none that can send (409).
    step!(run.unpaired("espera", 10).await);
    step!(run.claim(json!({})).await);
    step!(run.registered("ana", 5, 3).await);
    step!(run.registered("beto", 3, 1).await);
    step!(run.registered("caro", 8, 2).await);
    step!(run.linked("dani", 4).await);
    for strategy in ["round_robin", "least_used", "most_remaining", "priority"] {
        for count in [1, 2] {
            step!(
                run.claim(json!({"strategy": strategy, "count": count}))
                    .await
            );
        }
    }
    step!(run.claim(json!({})).await);
    // Sticky recipients: the same instance while it is eligible.
    for strategy in ["least_used", "priority", "round_robin"] {
        step!(
            run.claim(json!({"recipient": "+573001110001", "strategy": strategy}))
                .await
        );
    }
    step!(
        run.claim(json!({"recipient": "+573001110002", "count": 2}))
            .await
    );
    // Idempotent replays, on the batchable path and on the sticky one.
    step!(
        run.claim(json!({"idempotency_key": "k-1", "count": 2}))
            .await
    );
    step!(
        run.claim(json!({"idempotency_key": "k-1", "count": 2}))
            .await
    );
    step!(
        run.claim(json!({"idempotency_key": "k-2", "recipient": "+573001110003"}))
            .await
    );
    step!(run.claim(json!({"idempotency_key": "k-2"})).await);
    // Releases, partial, repeated, too many, whole.
    step!(run.release(0, Some(1)).await);
    step!(run.release(0, Some(1)).await);
    step!(run.release(1, Some(5)).await);
    step!(run.release(2, None).await);
    // Sends through Relevo: sticky to `to`, and a fail-over from a broken instance.
    step!(run.send("+573001110001", Some("m-1")).await);
    step!(run.send("+573001110001", Some("m-1")).await);
    step!(run.send("+573001110004", None).await);
    run.fake.break_sending("dani");
    step!(run.send("+573001110005", None).await);
    step!(run.send("+573001110005", None).await);
    // Admin changes between claims: toggles, a limit below the count, a reset, a delete.
    step!(
        run.admin(Method::POST, "beto", "/toggle-active", None)
            .await
    );
    step!(run.claim(json!({"strategy": "priority", "count": 3})).await);
    step!(
        run.admin(Method::POST, "beto", "/toggle-active", None)
            .await
    );
    step!(
        run.admin(
            Method::PUT,
            "caro",
            "",
            Some(json!({"daily_message_limit": 2}))
        )
        .await
    );
    step!(
        run.claim(json!({"strategy": "most_remaining", "count": 4}))
            .await
    );
    step!(run.admin(Method::POST, "ana", "/reset-counter", None).await);
    step!(run.release(3, None).await);
    step!(
        run.claim(json!({"strategy": "least_used", "count": 3}))
            .await
    );
    step!(run.admin(Method::DELETE, "beto", "", None).await);
    step!(run.claim(json!({"idempotency_key": "k-1"})).await);
    // Exhaustion, then the next local day.
    for _ in 0..4 {
        step!(run.claim(json!({"count": 1000})).await);
    }
    step!(run.advance(20));
    step!(run.release(4, Some(1)).await);
    step!(run.claim(json!({"recipient": "+573001110001"})).await);
    step!(
        run.claim(json!({"strategy": "most_remaining", "count": 6}))
            .await
    );
    // Past the idempotency window: the key claims anew.
    step!(run.advance(6));
    step!(
        run.claim(json!({"idempotency_key": "k-1", "count": 2}))
            .await
    );
    step!(
        run.claim(json!({"idempotency_key": "k-1", "count": 2}))
            .await
    );
    log
}

/// The first step where two runs differ, with what each said.
fn first_difference(left: &[String], right: &[String]) -> Option<String> {
    let at = left
        .iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .or_else(|| (left.len() != right.len()).then(|| left.len().min(right.len())))?;
    Some(format!(
        "step {at}:\n  {}\n  {}",
        left.get(at).map_or("(none)", String::as_str),
        right.get(at).map_or("(none)", String::as_str)
    ))
}

/// Claims the app committed in batches, from its metrics.
async fn claims_in_batches(app: &TestApp) -> f64 {
    let metrics = app.metrics_text().await;
    metrics
        .lines()
        .find(|line| line.contains("claim_batch_size_count"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn one_sequence_of_claims_comes_out_the_same_on_every_path() {
    const IN_BATCHES: &[(&str, &str)] = &[("RELEVO_CLAIM_BATCH_MIN", "1")];
    let mut outcomes = Vec::new();
    for (path, backend, extra) in [
        ("SQLite, lone claims", Backend::Sqlite, &[][..]),
        ("SQLite, claims in batches", Backend::Sqlite, IN_BATCHES),
        ("PostgreSQL, lone claims", Backend::Postgres, &[][..]),
        (
            "PostgreSQL, claims in batches",
            Backend::Postgres,
            IN_BATCHES,
        ),
    ] {
        // A path whose backend is missing is reported SKIPPED; the others still compare.
        let Some(mut run) = Run::start(backend, extra).await else {
            continue;
        };
        let steps = script(&mut run).await;
        let batched = claims_in_batches(&run.app).await;
        assert_eq!(
            batched > 0.0,
            !extra.is_empty(),
            "{path}: {batched} claims in batches"
        );
        outcomes.push((path, steps));
    }

    let (first, reference) = &outcomes[0];
    // The script does what it says: claims were granted, refused and replayed.
    let says = |what: &str| reference.iter().any(|step| step.contains(what));
    assert!(
        says("granted 2") && says("429") && says("409"),
        "{reference:#?}"
    );
    for (path, steps) in &outcomes[1..] {
        if let Some(difference) = first_difference(reference, steps) {
            panic!("{first} and {path} differ at {difference}");
        }
    }
}
