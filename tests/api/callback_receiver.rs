//! A tenant's backend as the tests need it: a real HTTP server on a local port that
//! records every delivery (body and headers), checks its signature with its own
//! HMAC-SHA256 (not Relevo's code) against the tenant's secret and Relevo's clock, and
//! can answer as a sick receiver does: fail N times, be down, answer 410 Gone, or hang
//! past Relevo's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, KeyInit, Mac};
use relevo::clock::{Clock, ManualClock};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::helpers::serve_locally;

/// How far a signature's `t` may be from Relevo's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub event_id: String,
    pub event_type: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub json: Value,
    /// The signature is right for the tenant's secret and recent on Relevo's clock.
    pub verified: bool,
    /// What the receiver answered (0 when it hung).
    pub answered: u16,
}

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Healthy,
    /// Every request gets this status.
    Down(u16),
    /// The next `n` requests get `status`, then it is healthy.
    FailTimes(u32, u16),
    Gone,
    /// Never answers in time.
    Hang,
}

#[derive(Default)]
struct State {
    /// The secret of each tenant, by tenant id.
    secrets: HashMap<i64, String>,
    mode: Option<Mode>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
    clock: Arc<ManualClock>,
    arrived: Arc<Notify>,
}

impl Receiver {
    pub async fn start(clock: Arc<ManualClock>) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let receiver = Self {
            url: String::new(),
            state,
            clock,
            arrived,
        };
        let address = serve_locally(web::Data::new(receiver.clone()), handle);
        Self {
            url: format!("{address}/relevo/events"),
            ..receiver
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn set_secret(&self, tenant_id: i64, secret: &str) {
        self.state().secrets.insert(tenant_id, secret.to_string());
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state().mode = Some(mode);
    }

    /// Everything received so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.state().received.clone()
    }

    /// The deliveries it answered 2xx, in order of arrival.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Waits until a request arrives (for a hanging receiver: it is being held).
    pub async fn arrival(&self) {
        self.arrived.notified().await
    }

    fn verify(&self, tenant_id: i64, signature: &str, body: &[u8]) -> bool {
        let Some(secret) = self.state().secrets.get(&tenant_id).cloned() else {
            return false;
        };
        let mut parts = HashMap::new();
        for part in signature.split(',') {
            if let Some((key, value)) = part.split_once('=') {
                parts.insert(key.to_string(), value.to_string());
            }
        }
        let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else {
            return false;
        };
        let Ok(timestamp) = t.parse::<i64>() else {
            return false;
        };
        if (self.clock.now().timestamp() - timestamp).abs() > TOLERANCE_SECS {
            return false;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        expected == *v1
    }
}

async fn handle(
    receiver: web::Data<Receiver>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let tenant_id = json["tenant_id"].as_i64().unwrap_or_default();
    let signature = header("x-relevo-signature");
    let verified = receiver.verify(tenant_id, &signature, &body);
    let answer = {
        let mut state = receiver.state();
        let answer = match state.mode.unwrap_or(Mode::Healthy) {
            Mode::Healthy => 200,
            Mode::Down(status) => status,
            Mode::FailTimes(0, _) => 200,
            Mode::FailTimes(n, status) => {
                state.mode = Some(Mode::FailTimes(n - 1, status));
                status
            }
            Mode::Gone => 410,
            Mode::Hang => 0,
        };
        state.received.push(Received {
            event_id: header("x-relevo-event-id"),
            event_type: header("x-relevo-event-type"),
            signature,
            body: body.to_vec(),
            json,
            verified,
            answered: answer,
        });
        answer
    };
    receiver.arrived.notify_one();
    if answer == 0 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return HttpResponse::Ok().finish();
    }
    HttpResponse::build(StatusCode::from_u16(answer).unwrap()).body("{\"ok\":true}")
}
