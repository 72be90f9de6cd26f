//! Sending an event again when a super admin asks: the delivery worker picks it up as
//! due now, with the same id and body as before.

use serde_json::{json, Value};

use super::MAX_ATTEMPTS;
use crate::audit::{Action, Auditor};
use crate::db::outbox::{self, WebhookEvent};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::state::AppState;

pub enum ReplayOutcome {
    /// The event as it is now: pending, due at once.
    Replayed(Box<WebhookEvent>),
    NotFound,
}

/// Makes event `public_id` of tenant `tenant_id` due now, with a fresh set of attempts
/// beyond those made, and records it in the audit log in the same transaction.
pub async fn replay_delivery(
    state: &AppState,
    auditor: Auditor,
    tenant_id: i64,
    public_id: String,
) -> Result<ReplayOutcome, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .transaction(move |conn| {
            let Some(before) = outbox::find(conn, tenant_id, &public_id)? else {
                return Ok(ReplayOutcome::NotFound);
            };
            let Some(after) = outbox::replay(conn, before.id, MAX_ATTEMPTS, now)? else {
                return Ok(ReplayOutcome::NotFound);
            };
            auditor.record(
                conn,
                Action::WebhookDeliveryReplayed,
                after.id,
                Some(tenant_id),
                Some(snapshot(&before)),
                Some(snapshot(&after)),
            )?;
            Ok(ReplayOutcome::Replayed(Box::new(after)))
        })
        .await
}

/// How the audit log keeps an event: where its delivery stands, not its body.
fn snapshot(event: &WebhookEvent) -> Value {
    json!({
        "id": event.public_id,
        "type": event.event_type,
        "status": event.status,
        "attempts": event.attempts,
        "max_attempts": event.max_attempts,
        "next_attempt_at": event.next_attempt_at.map(Timestamp),
    })
}
