//! Prometheus metrics (SPEC §9), served as text at `GET /metrics`. Counters and
//! histograms are updated where things happen (a request, a claim, a message, a call to
//! Evolution, a login, a sync run, a pruning step). The gauges that describe the database
//! (instances by status, the outbox by status) are counted by this process's delivery
//! worker at most every `COUNT_EVERY_SECONDS` (`events::worker`) and kept here:
//! a scrape only encodes what the registry holds and never reads the database, so its
//! cost does not grow with the tables. Each application has its own registry.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::{ConnectionStatus, DeliveryStatus};

/// Request latencies: from a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    claims: IntCounterVec,
    claim_duration: HistogramVec,
    claim_batch_size: Histogram,
    messages: IntCounterVec,
    evolution_calls: IntCounterVec,
    logins: IntCounterVec,
    sync_runs: IntCounterVec,
    inbound_webhooks: IntCounterVec,
    inbound_excess: IntCounter,
    outbox_pruned: IntCounter,
    instances: IntGaugeVec,
    outbox: IntGaugeVec,
    counted_at: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[allow(
        clippy::expect_used,
        reason = "start-up: constant metric names and help texts, registered once"
    )]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("relevo".into()), None)
            .expect("a registry with a valid prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric =
                IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
            registry
                .register(Box::new(metric.clone()))
                .expect("registered once");
            metric
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
            registry
                .register(Box::new(metric.clone()))
                .expect("registered once");
            metric
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let metric = HistogramVec::new(opts, labels).expect("a valid histogram");
            registry
                .register(Box::new(metric.clone()))
                .expect("registered once");
            metric
        };
        Self {
            http_requests: counter(
                "http_requests_total",
                "HTTP requests answered, by route template, method and status",
                &["route", "method", "status"],
            ),
            http_duration: histogram(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by route template and method",
                &["route", "method"],
            ),
            claims: counter(
                "claims_total",
                "Sender claims, by outcome: granted, replayed, or why none was granted",
                &["outcome"],
            ),
            claim_duration: histogram(
                "claim_duration_seconds",
                "Time to answer a sender claim, by outcome",
                &["outcome"],
            ),
            claim_batch_size: {
                let opts = HistogramOpts::new(
                    "claim_batch_size",
                    "Claims committed together in one transaction (group commit)",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
                let metric = Histogram::with_opts(opts).expect("a valid histogram");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("registered once");
                metric
            },
            messages: counter(
                "messages_total",
                "Messages sent through Relevo, by outcome",
                &["outcome"],
            ),
            evolution_calls: counter(
                "evolution_requests_total",
                "Calls to Evolution API servers, by server (its id), operation and outcome",
                &["server", "operation", "outcome"],
            ),
            logins: counter(
                "logins_total",
                "Login attempts, by outcome (success, failure, throttled, busy)",
                &["outcome"],
            ),
            sync_runs: counter(
                "sync_runs_total",
                "Sync runs with Evolution, by trigger and outcome",
                &["trigger", "outcome"],
            ),
            inbound_webhooks: counter(
                "inbound_webhooks_total",
                "Webhooks received from Evolution, by outcome (applied, unchanged, ignored, foreign: naming an instance its token does not speak for, unauthorized)",
                &["outcome"],
            ),
            inbound_excess: {
                let metric = IntCounter::new(
                    "inbound_excess_total",
                    "Messages and receipts beyond what one webhook may cause, dropped",
                )
                .expect("a valid counter");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("registered once");
                metric
            },
            outbox_pruned: {
                let metric = IntCounter::new(
                    "outbox_pruned_total",
                    "Delivered and failed events deleted from the outbox after the retention",
                )
                .expect("a valid counter");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("registered once");
                metric
            },
            instances: gauge(
                "instances",
                "WhatsApp instances, by connection status (as last counted, see database_counted_timestamp_seconds)",
                &["status"],
            ),
            outbox: gauge(
                "outbox_events",
                "Outbound events to tenants, by delivery status (as last counted, see database_counted_timestamp_seconds)",
                &["status"],
            ),
            counted_at: {
                let metric = IntGauge::new(
                    "database_counted_timestamp_seconds",
                    "When this process last counted instances and outbound events by status (Unix time; 0: never)",
                )
                .expect("a valid gauge");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("registered once");
                metric
            },
            registry,
        }
    }

    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.http_requests
            .with_label_values(&[route, method, &status])
            .inc();
        self.http_duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    pub fn claim(&self, outcome: &str, elapsed: Duration) {
        self.claims.with_label_values(&[outcome]).inc();
        self.claim_duration
            .with_label_values(&[outcome])
            .observe(elapsed.as_secs_f64());
    }

    pub fn claim_batch(&self, size: usize) {
        self.claim_batch_size.observe(size as f64);
    }

    pub fn message(&self, outcome: &str) {
        self.messages.with_label_values(&[outcome]).inc();
    }

    pub fn evolution_call(&self, server: &str, operation: &str, outcome: &str) {
        self.evolution_calls
            .with_label_values(&[server, operation, outcome])
            .inc();
    }

    pub fn login(&self, outcome: &str) {
        self.logins.with_label_values(&[outcome]).inc();
    }

    pub fn inbound_webhook(&self, outcome: &str) {
        self.inbound_webhooks.with_label_values(&[outcome]).inc();
    }

    pub fn inbound_excess(&self, dropped: usize) {
        self.inbound_excess
            .inc_by(u64::try_from(dropped).unwrap_or(u64::MAX));
    }

    pub fn sync_run(&self, trigger: &str, outcome: &str) {
        self.sync_runs.with_label_values(&[trigger, outcome]).inc();
    }

    pub fn outbox_pruned(&self, events: usize) {
        self.outbox_pruned.inc_by(events as u64);
    }

    /// Sets the gauges that describe the database to counts taken at `counted_at`:
    /// `instances` and `outbox` as (status, count). A status no longer counted leaves its
    /// gauge; the others are overwritten in place, so a scrape meanwhile never finds the
    /// family empty.
    pub fn database_counted(
        &self,
        instances: &[(ConnectionStatus, i64)],
        outbox: &[(DeliveryStatus, i64)],
        counted_at: i64,
    ) {
        let instances: Vec<(&str, i64)> = instances
            .iter()
            .map(|&(status, count)| (status.as_str(), count))
            .collect();
        let outbox: Vec<(&str, i64)> = outbox
            .iter()
            .map(|&(status, count)| (status.as_str(), count))
            .collect();
        for (gauge, counts) in [(&self.instances, instances), (&self.outbox, outbox)] {
            for &(status, count) in &counts {
                gauge.with_label_values(&[status]).set(count);
            }
            let gone: Vec<String> = gauge
                .collect()
                .iter()
                .flat_map(|family| family.get_metric())
                .flat_map(|metric| metric.get_label())
                .map(|label| label.value().to_string())
                .filter(|status| {
                    !counts
                        .iter()
                        .any(|&(counted, _)| counted == status.as_str())
                })
                .collect();
            for status in gone {
                // Absent already when another count removed it meanwhile: nothing to do.
                let _ = gauge.remove_label_values(&[&status]);
            }
        }
        self.counted_at.set(counted_at);
    }

    /// The Prometheus text exposition of every metric as this process holds it.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            log::error!("metrics could not be written as text: {error}");
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// Counts every request by the route template it matched (`unmatched` for none, so
/// that paths never become labels) and its status, and times it, in the application's
/// `web::Data<Metrics>`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().clone();
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let (route, status) = match &result {
            Ok(response) => (
                response.request().match_pattern(),
                response.status().as_u16(),
            ),
            Err(error) => (None, error.as_response_error().status_code().as_u16()),
        };
        let route = route.unwrap_or_else(|| "unmatched".into());
        metrics.request(&route, method.as_str(), status, started.elapsed());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_every_family_with_its_labels() {
        let metrics = Metrics::new();
        metrics.request(
            "/api/v1/tenants/{tenant}/sender/claim",
            "POST",
            200,
            Duration::from_millis(3),
        );
        metrics.claim("granted", Duration::from_millis(3));
        metrics.evolution_call("7", "message/sendText", "ok");
        metrics.outbox_pruned(1000);
        let text = metrics.render();
        assert!(
            !text.contains("relevo_instances{"),
            "nothing counted yet:\n{text}"
        );
        metrics.database_counted(
            &[(ConnectionStatus::Connected, 3)],
            &[(DeliveryStatus::Pending, 2)],
            1_700_000_000,
        );
        let text = metrics.render();
        for line in [
            r#"relevo_http_requests_total{method="POST",route="/api/v1/tenants/{tenant}/sender/claim",status="200"} 1"#,
            r#"relevo_claims_total{outcome="granted"} 1"#,
            r#"relevo_claim_duration_seconds_bucket{outcome="granted",le="0.005"} 1"#,
            r#"relevo_evolution_requests_total{operation="message/sendText",outcome="ok",server="7"} 1"#,
            r#"relevo_outbox_pruned_total 1000"#,
            r#"relevo_instances{status="connected"} 3"#,
            r#"relevo_outbox_events{status="pending"} 2"#,
            r#"relevo_database_counted_timestamp_seconds 1700000000"#,
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        // A status gone from the database leaves the gauge; the others are overwritten.
        metrics.database_counted(
            &[(ConnectionStatus::Disconnected, 4)],
            &[(DeliveryStatus::Pending, 1)],
            1_700_000_015,
        );
        let text = metrics.render();
        assert!(!text.contains(r#"relevo_instances{status="connected"}"#));
        assert!(text.contains(r#"relevo_instances{status="disconnected"} 4"#));
        assert!(text.contains(r#"relevo_outbox_events{status="pending"} 1"#));
    }
}
