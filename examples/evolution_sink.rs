//! A stand-in Evolution API for `scripts/bench-send.sh`: answers `POST
//! /message/sendText/{instance}` as Evolution v2 does (201 with the prepared message,
//! reference §2.12), after an optional delay, and counts what it "sent" per instance.
//!
//! ```text
//! evolution_sink --port 9000 [--delay-ms 0]
//! GET /sent   →  {"total": 1234, "by_instance": {"bench_0": 12, ...}}
//! ```
//!
//! It answers every instance name and key: the benchmark measures Relevo, not the
//! guards (the test suite's fake in `tests/api/evolution_fake.rs` checks those).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{get, post, web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

struct Sink {
    delay: Duration,
    sent: Mutex<HashMap<String, u64>>,
}

#[post("/message/sendText/{instance}")]
async fn send_text(
    sink: web::Data<Sink>,
    instance: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let (Some(number), Some(text)) = (body["number"].as_str(), body["text"].as_str()) else {
        return HttpResponse::BadRequest().json(json!({
            "status": 400, "error": "Bad Request",
            "response": {"message": [["instance requires property \"number\""]]},
        }));
    };
    if !sink.delay.is_zero() {
        tokio::time::sleep(sink.delay).await;
    }
    let instance = instance.into_inner();
    *sink
        .sent
        .lock()
        .expect("the counter lock")
        .entry(instance.clone())
        .or_default() += 1;
    let id = format!(
        "3EB0{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
    );
    HttpResponse::Created().json(json!({
        "key": {"remoteJid": format!("{number}@s.whatsapp.net"), "fromMe": true, "id": id},
        "pushName": "Você",
        "status": "PENDING",
        "message": {"conversation": text},
        "messageType": "conversation",
        "messageTimestamp": chrono::Utc::now().timestamp(),
        "instanceId": instance,
        "source": "web",
    }))
}

#[get("/sent")]
async fn sent(sink: web::Data<Sink>) -> HttpResponse {
    let by_instance = sink.sent.lock().expect("the counter lock").clone();
    let total: u64 = by_instance.values().sum();
    HttpResponse::Ok().json(json!({"total": total, "by_instance": by_instance}))
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .cloned()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = flag(&args, "--port")
        .and_then(|port| port.parse().ok())
        .unwrap_or(9000);
    let delay_ms: u64 = flag(&args, "--delay-ms")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    let sink = web::Data::new(Sink {
        delay: Duration::from_millis(delay_ms),
        sent: Mutex::new(HashMap::new()),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(sink.clone())
            .service(send_text)
            .service(sent)
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
