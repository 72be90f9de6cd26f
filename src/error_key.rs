//! The closed set of `error_key`s Relevo answers with: a value type below everything that
//! stores, counts or renders one (a message's `error_key` in the database, metric labels,
//! the JSON error body in [`crate::error`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares [`ErrorKey`] from one list, so the variants, their wire strings and
/// [`ErrorKey::ALL`] cannot drift apart (a `match` alone cannot list the variants).
/// The wire string is a `tt`, not a `literal`: utoipa reads `#[serde(rename)]` only from
/// plain tokens.
macro_rules! error_keys {
    ($($(#[$doc:meta])* $variant:ident = $wire:tt,)*) => {
        /// The stable key of an error answer: clients branch on it, it never changes with
        /// the language, and it is the same string on the wire, in the database (a
        /// message's `error_key`, a sync run's failures) and in metric labels.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema,
            diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum ErrorKey {
            $($(#[$doc])* #[serde(rename = $wire)] $variant,)*
        }

        impl ErrorKey {
            /// Every key, in the order of the list.
            pub const ALL: &'static [ErrorKey] = &[$(Self::$variant,)*];

            /// The key as it goes on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)*
                }
            }
        }
    };
}

error_keys! {
    /// The password hashing pool is saturated.
    AuthBusy = "auth.busy",
    AuthInvalidCredentials = "auth.invalid_credentials",
    AuthTooManyAttempts = "auth.too_many_attempts",
    DatabaseMigrationsPending = "database.migrations_pending",
    /// The database was locked for the whole timeout, or could not be reached.
    DatabaseUnavailable = "database.unavailable",
    /// The number's WhatsApp connection is down.
    EvolutionConnectionClosed = "evolution.connection_closed",
    EvolutionInstanceCreationDisabled = "evolution.instance_creation_disabled",
    EvolutionInstanceMissing = "evolution.instance_missing",
    EvolutionInstanceNotConnected = "evolution.instance_not_connected",
    EvolutionInterrupted = "evolution.interrupted",
    EvolutionInvalidResponse = "evolution.invalid_response",
    EvolutionNoGlobalKey = "evolution.no_global_key",
    EvolutionNoServer = "evolution.no_server",
    EvolutionRejected = "evolution.rejected",
    /// An Evolution server a super admin deactivated.
    EvolutionServerInactive = "evolution.server_inactive",
    EvolutionTimeout = "evolution.timeout",
    EvolutionUnauthorized = "evolution.unauthorized",
    /// A 5xx, or the server could not be reached.
    EvolutionUnavailable = "evolution.unavailable",
    EvolutionWebsocketDisabled = "evolution.websocket_disabled",
    EvolutionServerHasInstances = "evolution_server.has_instances",
    EvolutionServerNotFound = "evolution_server.not_found",
    /// The first request with this idempotency key is still sending the message.
    MessageInFlight = "message.in_flight",
    MessageNotFound = "message.not_found",
    /// The recipient is not on WhatsApp.
    MessageRecipientInvalid = "message.recipient_invalid",
    /// No instance could send the message.
    MessageSendFailed = "message.send_failed",
    /// The message may have gone out: its outcome is unknown.
    MessageSendTimeout = "message.send_timeout",
    RequestMalformed = "request.malformed",
    RequestRejected = "request.rejected",
    RequestTimeout = "request.timeout",
    RequestTooLarge = "request.too_large",
    /// Another request changed the resource in between.
    ResourceConflict = "resource.conflict",
    RouteMethodNotAllowed = "route.method_not_allowed",
    RouteNotFound = "route.not_found",
    SenderClaimInstanceDeleted = "sender.claim_instance_deleted",
    SenderClaimNotFound = "sender.claim_not_found",
    SenderReleaseDayOver = "sender.release_day_over",
    SenderTokenNotFound = "sender_token.not_found",
    ServerInternal = "server.internal",
    SyncFailed = "sync.failed",
    SyncInProgress = "sync.in_progress",
    SyncLeaseLost = "sync.lease_lost",
    TenantHasInstances = "tenant.has_instances",
    TenantNotFound = "tenant.not_found",
    UserCannotDeleteSelf = "user.cannot_delete_self",
    UserLastSuperAdmin = "user.last_super_admin",
    UserNotFound = "user.not_found",
    ValidationFailed = "validation.failed",
    WebhookNoPublicUrl = "webhook.no_public_url",
    WebhookDeliveryNotFound = "webhook_delivery.not_found",
    WhatsappInstanceNameRetired = "whatsapp.instance_name_retired",
    WhatsappInstanceNameTaken = "whatsapp.instance_name_taken",
    WhatsappInstanceNotFound = "whatsapp.instance_not_found",
    WhatsappMaxInstancesReached = "whatsapp.max_instances_reached",
    WhatsappNoActiveInstances = "whatsapp.no_active_instances",
    WhatsappNoInstanceAvailable = "whatsapp.no_instance_available",
}

impl ErrorKey {
    /// The key written as `raw`, if it is one.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|key| key.as_str() == raw)
    }
}

impl std::fmt::Display for ErrorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
