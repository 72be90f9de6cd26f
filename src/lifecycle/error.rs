//! What can go wrong in the lifecycle service, and its one mapping into [`ApiError`].

use actix_web::http::StatusCode;

use crate::db::evolution_servers::EvolutionServer;
use crate::error::{ApiError, ErrorKey, Resource, UpstreamServer};
use crate::evolution::EvolutionError;

/// The Evolution server a failure concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRef {
    pub id: i64,
    pub name: String,
}

impl From<&EvolutionServer> for ServerRef {
    fn from(server: &EvolutionServer) -> Self {
        Self {
            id: server.id,
            name: server.name.clone(),
        }
    }
}

#[derive(Debug)]
pub enum LifecycleError {
    /// Provisioning is switched off (`EVOLUTION_API_ENABLE_INSTANCE_CREATION=false`).
    CreationDisabled,
    /// No Evolution server Relevo may use; the reason says which.
    NoServer(String),
    /// The instance's server is switched off.
    ServerInactive(ServerRef),
    /// A call to Evolution failed.
    Evolution {
        server: ServerRef,
        error: EvolutionError,
    },
    /// Evolution no longer has the instance (it is now `error` in Relevo).
    InstanceMissing {
        server: ServerRef,
        instance_name: String,
    },
    /// Evolution refused the action (the instance is not connected, perhaps looping
    /// while it reconnects): nothing was done and nothing changed.
    Refused {
        server: ServerRef,
        instance_name: String,
        action: RefusedAction,
        /// Evolution's own words, when they mean something.
        upstream: Option<String>,
    },
    /// Websockets are off on the server.
    WebsocketDisabled(ServerRef),
    /// `RELEVO_PUBLIC_URL` is not set, so Evolution cannot be pointed at Relevo.
    NoPublicUrl,
    /// Another tenant has this instance name on the server.
    NameTaken(String),
    /// A deleted tenant left this name on the server, perhaps with a live session.
    NameRetired(String),
    /// The tenant has as many instances as allowed.
    MaxInstancesReached(i64),
    /// The instance is gone from Relevo.
    NotFound,
    /// Already an API error: the database, invalid input, a key that does not decrypt.
    Api(ApiError),
}

/// An action Evolution may refuse for an instance that is not connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusedAction {
    Logout,
    Restart,
}

impl RefusedAction {
    fn verb(self) -> &'static str {
        match self {
            Self::Logout => "log out",
            Self::Restart => "restart",
        }
    }

    fn next_step(self) -> &'static str {
        match self {
            Self::Logout => "Try again once it is connected, or delete the instance to end its session for good.",
            Self::Restart => "Connect it to get a new QR code instead.",
        }
    }
}

impl From<ApiError> for LifecycleError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<diesel::result::Error> for LifecycleError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<LifecycleError> for ApiError {
    fn from(error: LifecycleError) -> Self {
        match error {
            LifecycleError::CreationDisabled => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorKey::EvolutionInstanceCreationDisabled,
                "Provisioning is disabled on this Relevo (EVOLUTION_API_ENABLE_INSTANCE_CREATION=false); register existing instances instead.",
            ),
            LifecycleError::NoServer(reason) => ApiError::no_evolution_server(&reason),
            // A state an admin set, not an outage: a 409, not a 503.
            LifecycleError::ServerInactive(server) => ApiError::new(
                StatusCode::CONFLICT,
                ErrorKey::EvolutionServerInactive,
                format!(
                    "Evolution API server `{}` is inactive; activate it (PUT /api/v1/evolution-servers/{}) to manage its instances.",
                    server.name, server.id
                ),
            ),
            LifecycleError::Evolution { server, error } => ApiError::evolution(
                &UpstreamServer {
                    id: server.id,
                    name: &server.name,
                },
                &error,
            ),
            LifecycleError::InstanceMissing {
                server,
                instance_name,
            } => ApiError::conflict(
                ErrorKey::EvolutionInstanceMissing,
                format!(
                    "Evolution API server `{}` no longer has the instance `{instance_name}`; provision it again",
                    server.name
                ),
            )
            .with_params(serde_json::json!({
                "evolution_server_id": server.id,
                "instance_name": instance_name,
            })),
            LifecycleError::Refused {
                server,
                instance_name,
                action,
                upstream,
            } => ApiError::conflict(
                ErrorKey::EvolutionInstanceNotConnected,
                format!(
                    "Evolution API server `{}` did not {} `{instance_name}`: the instance is not connected (it may be reconnecting). Nothing changed. {}",
                    server.name,
                    action.verb(),
                    action.next_step(),
                ),
            )
            .with_params(serde_json::json!({
                "evolution_server_id": server.id,
                "evolution_server": server.name,
                "instance_name": instance_name,
                "upstream": upstream,
            })),
            LifecycleError::WebsocketDisabled(server) => ApiError::conflict(
                ErrorKey::EvolutionWebsocketDisabled,
                format!(
                    "Websockets are disabled on Evolution API server `{}` (WEBSOCKET_ENABLED); nothing was stored",
                    server.name
                ),
            ),
            LifecycleError::NoPublicUrl => ApiError::conflict(
                ErrorKey::WebhookNoPublicUrl,
                "Relevo does not know how Evolution reaches it (RELEVO_PUBLIC_URL is not set), so it cannot point the instance's webhook at itself; set RELEVO_PUBLIC_URL and try again.",
            ),
            LifecycleError::NameTaken(name) => ApiError::conflict(
                ErrorKey::WhatsappInstanceNameTaken,
                format!("The instance name `{name}` is already used by another tenant on this Evolution API server"),
            )
            .with_params(serde_json::json!({ "instance_name": name })),
            LifecycleError::NameRetired(name) => ApiError::conflict(
                ErrorKey::WhatsappInstanceNameRetired,
                format!("The instance name `{name}` belonged to a deleted tenant and Evolution may still have its WhatsApp session linked; to take it over for this tenant, provision it again with \"adopt\": true"),
            )
            .with_params(serde_json::json!({ "instance_name": name })),
            LifecycleError::MaxInstancesReached(max) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorKey::WhatsappMaxInstancesReached,
                format!("The tenant already has {max} WhatsApp instances, the most allowed (EVOLUTION_API_MAX_INSTANCES_PER_TENANT)"),
            )
            .with_params(serde_json::json!({ "max": max })),
            LifecycleError::NotFound => ApiError::not_found(Resource::WhatsappInstance),
            LifecycleError::Api(error) => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server() -> ServerRef {
        ServerRef {
            id: 3,
            name: "principal".into(),
        }
    }

    fn mapped(error: LifecycleError) -> (u16, Option<ErrorKey>, String, serde_json::Value) {
        let api = ApiError::from(error);
        let body = api.body().clone();
        (
            api.status().as_u16(),
            body.error_key,
            body.message,
            body.error_params.unwrap_or(serde_json::Value::Null),
        )
    }

    #[test]
    fn each_failure_keeps_its_status_key_and_message() {
        let (status, key, _, _) = mapped(LifecycleError::CreationDisabled);
        assert_eq!(
            (status, key),
            (403, Some(ErrorKey::EvolutionInstanceCreationDisabled))
        );

        let (status, key, message, _) = mapped(LifecycleError::NoServer(
            "No default Evolution API server is configured.".into(),
        ));
        assert_eq!((status, key), (503, Some(ErrorKey::EvolutionNoServer)));
        assert!(message.starts_with("No default Evolution API server is configured. A super admin"));

        let (status, key, message, _) = mapped(LifecycleError::ServerInactive(server()));
        assert_eq!(
            (status, key),
            (409, Some(ErrorKey::EvolutionServerInactive))
        );
        assert_eq!(message, "Evolution API server `principal` is inactive; activate it (PUT /api/v1/evolution-servers/3) to manage its instances.");

        let (status, key, _, params) = mapped(LifecycleError::Evolution {
            server: server(),
            error: EvolutionError::Timeout,
        });
        assert_eq!((status, key), (504, Some(ErrorKey::EvolutionTimeout)));
        assert_eq!(
            params,
            json!({"evolution_server_id": 3, "evolution_server": "principal"})
        );

        let (status, key, message, params) = mapped(LifecycleError::InstanceMissing {
            server: server(),
            instance_name: "ventas".into(),
        });
        assert_eq!(
            (status, key),
            (409, Some(ErrorKey::EvolutionInstanceMissing))
        );
        assert_eq!(message, "Evolution API server `principal` no longer has the instance `ventas`; provision it again");
        assert_eq!(
            params,
            json!({"evolution_server_id": 3, "instance_name": "ventas"})
        );

        let (status, key, message, _) = mapped(LifecycleError::Refused {
            server: server(),
            instance_name: "ventas".into(),
            action: RefusedAction::Restart,
            upstream: None,
        });
        assert_eq!(
            (status, key),
            (409, Some(ErrorKey::EvolutionInstanceNotConnected))
        );
        assert!(message.contains("did not restart `ventas`: the instance is not connected"));
        assert!(!message.contains("[object Object]"));
        let (_, _, _, params) = mapped(LifecycleError::Refused {
            server: server(),
            instance_name: "ventas".into(),
            action: RefusedAction::Restart,
            upstream: Some("closed".into()),
        });
        assert_eq!(params["upstream"], "closed");

        let (status, key, _, _) = mapped(LifecycleError::WebsocketDisabled(server()));
        assert_eq!(
            (status, key),
            (409, Some(ErrorKey::EvolutionWebsocketDisabled))
        );

        let (status, key, _, params) = mapped(LifecycleError::NameTaken("ventas".into()));
        assert_eq!(
            (status, key),
            (409, Some(ErrorKey::WhatsappInstanceNameTaken))
        );
        assert_eq!(params, json!({"instance_name": "ventas"}));

        let (status, key, _, params) = mapped(LifecycleError::MaxInstancesReached(10));
        assert_eq!(
            (status, key),
            (422, Some(ErrorKey::WhatsappMaxInstancesReached))
        );
        assert_eq!(params, json!({"max": 10}));

        let (status, key, _, _) = mapped(LifecycleError::NotFound);
        assert_eq!(
            (status, key),
            (404, Some(ErrorKey::WhatsappInstanceNotFound))
        );

        let (status, _, _, _) = mapped(LifecycleError::Api(ApiError::forbidden()));
        assert_eq!(status, 403);
    }
}
