//! The one integration-test binary. Every test runs the real application over HTTP,
//! once on SQLite and once on PostgreSQL (some of them a third time through pgbouncer).

mod helpers;

mod callback_receiver;
mod conformance;
mod evolution_fake;

mod audit_log;
mod auth;
mod changes_and_events;
mod claim_batches;
mod claim_parity;
mod claim_rule;
mod compose;
mod concurrent_writes;
mod console;
mod daily_reset;
mod evolution_servers;
mod inbound;
mod instances;
mod leases;
mod lengths;
mod lifecycle;
mod live_status;
mod messages;
mod metrics;
mod operations;
mod outbound_events;
mod pooler;
mod provisioning;
mod provisioning_lease;
mod real_evolution;
mod request_errors;
mod request_logs;
mod sender;
mod sender_concurrency;
mod sender_outages;
mod sender_quota;
mod sender_tokens;
mod super_admins;
mod sync;
mod targets;
mod tenant_removal;
mod tenants;
mod users;
mod validation;
mod webhook_tokens;
