//! What can go wrong in the lifecycle service, and its one mapping into [`ApiError`].

use actix_web::http::StatusCode;

use crate::db::evolution_servers::EvolutionServer;
use crate::error::{ApiError, Resource, UpstreamServer};
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
    /// Restart refused: the instance is not connected (it is now `disconnected`).
    NotConnected {
        server: ServerRef,
        instance_name: String,
        /// Evolution's refusal, whose words go in `error_params.upstream`.
        refusal: EvolutionError,
    },
    /// Websockets are off on the server.
    WebsocketDisabled(ServerRef),
    /// Another tenant has this instance name on the server.
    NameTaken(String),
    /// The tenant has as many instances as allowed.
    MaxInstancesReached(i64),
    /// The instance is gone from Relevo.
    NotFound,
    /// Already an API error: the database, invalid input, a key that does not decrypt.
    Api(ApiError),
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
                "evolution.instance_creation_disabled",
                "Provisioning is disabled on this Relevo (EVOLUTION_API_ENABLE_INSTANCE_CREATION=false); register existing instances instead.",
            ),
            LifecycleError::NoServer(reason) => ApiError::no_evolution_server(&reason),
            LifecycleError::ServerInactive(server) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "evolution.server_inactive",
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
                "evolution.instance_missing",
                format!(
                    "Evolution API server `{}` no longer has the instance `{instance_name}`; provision it again",
                    server.name
                ),
            )
            .with_params(serde_json::json!({
                "evolution_server_id": server.id,
                "instance_name": instance_name,
            })),
            LifecycleError::NotConnected {
                server,
                instance_name,
                refusal,
            } => {
                let mut params = serde_json::json!({
                    "evolution_server_id": server.id,
                    "evolution_server": server.name,
                    "instance_name": instance_name,
                });
                if let Some(words) = refusal.upstream() {
                    params["upstream"] = serde_json::Value::from(words);
                }
                ApiError::conflict(
                    "evolution.instance_not_connected",
                    format!(
                        "Evolution API server `{}` cannot restart `{instance_name}`, which is not connected; connect it instead",
                        server.name
                    ),
                )
                .with_params(params)
            }
            LifecycleError::WebsocketDisabled(server) => ApiError::conflict(
                "evolution.websocket_disabled",
                format!(
                    "Websockets are disabled on Evolution API server `{}` (WEBSOCKET_ENABLED); nothing was stored",
                    server.name
                ),
            ),
            LifecycleError::NameTaken(name) => ApiError::conflict(
                "whatsapp.instance_name_taken",
                format!("The instance name `{name}` is already used by another tenant on this Evolution API server"),
            )
            .with_params(serde_json::json!({ "instance_name": name })),
            LifecycleError::MaxInstancesReached(max) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "whatsapp.max_instances_reached",
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

    fn mapped(error: LifecycleError) -> (u16, String, String, serde_json::Value) {
        let api = ApiError::from(error);
        let body = api.body().clone();
        (
            api.status().as_u16(),
            body.error_key.unwrap_or_default(),
            body.message,
            body.error_params.unwrap_or(serde_json::Value::Null),
        )
    }

    #[test]
    fn each_failure_keeps_its_status_key_and_message() {
        let (status, key, _, _) = mapped(LifecycleError::CreationDisabled);
        assert_eq!(
            (status, key.as_str()),
            (403, "evolution.instance_creation_disabled")
        );

        let (status, key, message, _) = mapped(LifecycleError::NoServer(
            "No default Evolution API server is configured.".into(),
        ));
        assert_eq!((status, key.as_str()), (503, "evolution.no_server"));
        assert!(message.starts_with("No default Evolution API server is configured. A super admin"));

        let (status, key, message, _) = mapped(LifecycleError::ServerInactive(server()));
        assert_eq!((status, key.as_str()), (503, "evolution.server_inactive"));
        assert_eq!(message, "Evolution API server `principal` is inactive; activate it (PUT /api/v1/evolution-servers/3) to manage its instances.");

        let (status, key, _, params) = mapped(LifecycleError::Evolution {
            server: server(),
            error: EvolutionError::Timeout,
        });
        assert_eq!((status, key.as_str()), (504, "evolution.timeout"));
        assert_eq!(
            params,
            json!({"evolution_server_id": 3, "evolution_server": "principal"})
        );

        let (status, key, message, params) = mapped(LifecycleError::InstanceMissing {
            server: server(),
            instance_name: "ventas".into(),
        });
        assert_eq!((status, key.as_str()), (409, "evolution.instance_missing"));
        assert_eq!(message, "Evolution API server `principal` no longer has the instance `ventas`; provision it again");
        assert_eq!(
            params,
            json!({"evolution_server_id": 3, "instance_name": "ventas"})
        );

        let (status, key, message, params) = mapped(LifecycleError::NotConnected {
            server: server(),
            instance_name: "ventas".into(),
            refusal: EvolutionError::Refused("closed".into()),
        });
        assert_eq!(
            (status, key.as_str()),
            (409, "evolution.instance_not_connected")
        );
        assert!(message.contains("cannot restart `ventas`, which is not connected;"));
        assert!(!message.contains("closed"), "{message}");
        assert_eq!(params["upstream"], "closed");
        let (_, _, _, params) = mapped(LifecycleError::NotConnected {
            server: server(),
            instance_name: "ventas".into(),
            refusal: EvolutionError::Refused("[object Object]".into()),
        });
        assert!(params.get("upstream").is_none(), "{params}");

        let (status, key, _, _) = mapped(LifecycleError::WebsocketDisabled(server()));
        assert_eq!(
            (status, key.as_str()),
            (409, "evolution.websocket_disabled")
        );

        let (status, key, _, params) = mapped(LifecycleError::NameTaken("ventas".into()));
        assert_eq!(
            (status, key.as_str()),
            (409, "whatsapp.instance_name_taken")
        );
        assert_eq!(params, json!({"instance_name": "ventas"}));

        let (status, key, _, params) = mapped(LifecycleError::MaxInstancesReached(10));
        assert_eq!(
            (status, key.as_str()),
            (422, "whatsapp.max_instances_reached")
        );
        assert_eq!(params, json!({"max": 10}));

        let (status, key, _, _) = mapped(LifecycleError::NotFound);
        assert_eq!((status, key.as_str()), (404, "whatsapp.instance_not_found"));

        let (status, _, _, _) = mapped(LifecycleError::Api(ApiError::forbidden()));
        assert_eq!(status, 403);
    }
}
