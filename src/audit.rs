//! The audit trail (SPEC section 9): every change a super admin makes through the API is
//! appended in the transaction that makes it, with who made it, for which request, and
//! the target before and after. Snapshots are built from the public form of each resource
//! (what its list shows), so they never carry a key, token, hash or encrypted column.
//! Super admins' logins are in it too (`auth.*`): each success and each failure on a super
//! admin's email, and the first refused attempt per client network and throttle window.

use diesel::QueryResult;
use serde::Serialize;
use serde_json::Value;

use crate::auth::identity::AuthUser;
use crate::clock::SharedClock;
use crate::db::audit_log::{self, NewAuditEntry};
use crate::db::DbConnection;
use crate::request_id::RequestId;

/// What a super admin did. The key (`tenant.created`) is what the log stores and filters
/// on; the part before the dot is the type of the target, except for `auth.*` (a login
/// to a super admin's account), whose target is that user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    TenantCreated,
    TenantUpdated,
    TenantDeleted,
    UserCreated,
    UserUpdated,
    UserDeleted,
    InstanceCreated,
    InstanceUpdated,
    InstanceDeleted,
    InstanceActivated,
    InstanceDeactivated,
    InstanceCounterReset,
    InstanceProvisioned,
    InstanceConnect,
    InstanceLogout,
    InstanceRestart,
    InstanceWebhookSet,
    InstanceWebsocketSet,
    InstanceWebhookTokenRotated,
    MessageSendRequested,
    SyncRequested,
    SenderTokenCreated,
    SenderTokenRevoked,
    EvolutionServerCreated,
    EvolutionServerUpdated,
    EvolutionServerDeleted,
    WebhookDeliveryReplayed,
    AuthLogin,
    AuthLoginFailed,
    AuthLoginThrottled,
}

/// Every action key, in the order the variants of [`Action`] are declared (its `as_str`).
pub const ACTION_KEYS: &[&str] = &[
    "tenant.created",
    "tenant.updated",
    "tenant.deleted",
    "user.created",
    "user.updated",
    "user.deleted",
    "instance.created",
    "instance.updated",
    "instance.deleted",
    "instance.activated",
    "instance.deactivated",
    "instance.counter_reset",
    "instance.provisioned",
    "instance.connect",
    "instance.logout",
    "instance.restart",
    "instance.webhook_set",
    "instance.websocket_set",
    "instance.webhook_token_rotated",
    "message.send_requested",
    "sync_run.requested",
    "sender_token.created",
    "sender_token.revoked",
    "evolution_server.created",
    "evolution_server.updated",
    "evolution_server.deleted",
    "webhook_delivery.replayed",
    "auth.login",
    "auth.login_failed",
    "auth.login_throttled",
];

/// The types of target an action can have.
pub const TARGET_TYPES: &[&str] = &[
    "tenant",
    "user",
    "instance",
    "message",
    "sync_run",
    "sender_token",
    "evolution_server",
    "webhook_delivery",
];

impl Action {
    pub const ALL: [Action; 30] = [
        Action::TenantCreated,
        Action::TenantUpdated,
        Action::TenantDeleted,
        Action::UserCreated,
        Action::UserUpdated,
        Action::UserDeleted,
        Action::InstanceCreated,
        Action::InstanceUpdated,
        Action::InstanceDeleted,
        Action::InstanceActivated,
        Action::InstanceDeactivated,
        Action::InstanceCounterReset,
        Action::InstanceProvisioned,
        Action::InstanceConnect,
        Action::InstanceLogout,
        Action::InstanceRestart,
        Action::InstanceWebhookSet,
        Action::InstanceWebsocketSet,
        Action::InstanceWebhookTokenRotated,
        Action::MessageSendRequested,
        Action::SyncRequested,
        Action::SenderTokenCreated,
        Action::SenderTokenRevoked,
        Action::EvolutionServerCreated,
        Action::EvolutionServerUpdated,
        Action::EvolutionServerDeleted,
        Action::WebhookDeliveryReplayed,
        Action::AuthLogin,
        Action::AuthLoginFailed,
        Action::AuthLoginThrottled,
    ];

    pub fn as_str(self) -> &'static str {
        ACTION_KEYS[self as usize]
    }

    /// `tenant` for `tenant.created`; `user` for a login.
    pub fn target_type(self) -> &'static str {
        if self.is_login() {
            return "user";
        }
        let key = self.as_str();
        key.split_once('.').map_or(key, |(target, _)| target)
    }

    fn is_login(self) -> bool {
        matches!(
            self,
            Action::AuthLogin | Action::AuthLoginFailed | Action::AuthLoginThrottled
        )
    }
}

/// Who is changing things, in which request. Made once per request by the handler and
/// used inside the transaction of each change it makes.
#[derive(Clone)]
pub struct Auditor {
    actor_id: i64,
    request_id: RequestId,
    clock: SharedClock,
}

impl Auditor {
    pub fn new(actor: &AuthUser, request_id: RequestId, clock: &SharedClock) -> Self {
        Self::for_user(actor.user_id, request_id, clock)
    }

    pub fn actor_id(&self) -> i64 {
        self.actor_id
    }

    /// For a request whose user is known by id only: a login (the account it names,
    /// whoever typed its password), a send through the tenant path. Its row is read when
    /// the change is recorded: a user deleted meanwhile changes nothing.
    pub fn for_user(actor_id: i64, request_id: RequestId, clock: &SharedClock) -> Self {
        Self {
            actor_id,
            request_id,
            clock: clock.clone(),
        }
    }

    /// Appends `action` on the target `target_id` (of `tenant_id`, if it belongs to one).
    /// `conn` must be the connection of the transaction that makes the change.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        action: Action,
        target_id: i64,
        tenant_id: Option<i64>,
        before: Option<Value>,
        after: Option<Value>,
    ) -> QueryResult<()> {
        audit_log::append(
            conn,
            &NewAuditEntry {
                actor_id: self.actor_id,
                action: action.as_str(),
                target_type: action.target_type(),
                target_id,
                tenant_id,
                before_json: before.map(|value| value.to_string()),
                after_json: after.map(|value| value.to_string()),
                request_id: self.request_id.as_str(),
                client_request_id: self.request_id.client(),
                created_at: self.clock.now().naive_utc(),
            },
        )
    }
}

/// A resource's public form as a snapshot. Pass only forms without secrets (what a list
/// of the resource shows).
pub fn snapshot(resource: &impl Serialize) -> QueryResult<Value> {
    serde_json::to_value(resource)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_key_and_a_known_target_type() {
        let keys: Vec<&str> = Action::ALL.iter().map(|action| action.as_str()).collect();
        assert_eq!(keys, ACTION_KEYS);
        for action in Action::ALL {
            assert!(
                TARGET_TYPES.contains(&action.target_type()),
                "{action:?} has the unknown target type {}",
                action.target_type()
            );
        }
        assert_eq!(Action::InstanceCounterReset.target_type(), "instance");
        assert_eq!(
            Action::EvolutionServerDeleted.target_type(),
            "evolution_server"
        );
        assert_eq!(Action::AuthLoginThrottled.target_type(), "user");
    }
}
