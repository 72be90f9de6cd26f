//! One try of a message on one instance, and what its outcome says: sent, the
//! recipient's fault, the instance's fault (fail over), or unknown (it may have gone out).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ConnectionStatus;
use crate::error::ErrorKey;
use crate::evolution::EvolutionError;
use crate::routes::wire::Timestamp;

/// One try of the message on one instance.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = MessageAttempt)]
pub struct Attempt {
    #[schema(example = 1)]
    pub instance_id: i64,
    #[schema(example = "principal_campana")]
    pub instance_name: String,
    /// The claim that counted the message on the instance (released again when the
    /// attempt failed).
    #[schema(format = "uuid", example = "0b6c3f0e-8a51-4a63-9d0e-2f1f3c4d5e6f")]
    pub claim_id: String,
    /// Why it failed; absent on the attempt that sent the message. One of
    /// `evolution.connection_closed` (the number's WhatsApp connection is down),
    /// `evolution.unauthorized`, `evolution.instance_missing`, `evolution.unavailable`
    /// (5xx or unreachable), `evolution.rejected`, `evolution.no_server`,
    /// `evolution.timeout`, `evolution.interrupted`, `evolution.invalid_response`,
    /// `message.recipient_invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ErrorKey)]
    pub error_key: Option<ErrorKey>,
    /// What Evolution answered, in its words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, example = "HTTP 500: Connection Closed")]
    pub error: Option<String>,
    pub at: Timestamp,
}

/// What went wrong on an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub error_key: ErrorKey,
    pub error: String,
    /// The instance's status as Evolution showed it, when the answer showed one.
    pub shows: Option<ConnectionStatus>,
}

impl Failure {
    pub fn new(error_key: ErrorKey, error: impl ToString) -> Self {
        Self {
            error_key,
            error: error.to_string(),
            shows: None,
        }
    }

    fn showing(self, status: ConnectionStatus) -> Self {
        Self {
            shows: Some(status),
            ..self
        }
    }
}

/// What an answer of `sendText` means for the message (SPEC §6).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Sent, with its WhatsApp message id.
    Sent(String),
    /// The message itself cannot be sent (the number is not on WhatsApp): no fail-over.
    Recipient(Failure),
    /// The instance failed and the message did not go out: try another instance.
    Instance(Failure),
    /// No answer, or one that says nothing: the message may have gone out.
    Unknown(Failure),
}

impl Verdict {
    pub fn of(answer: Result<String, EvolutionError>) -> Self {
        let error = match answer {
            Ok(message_id) => return Self::Sent(message_id),
            Err(error) => error,
        };
        if error.is_not_on_whatsapp() {
            return Self::Recipient(Failure::new(ErrorKey::MessageRecipientInvalid, &error));
        }
        if error.is_instance_not_loaded() {
            let failure = Failure::new(ErrorKey::EvolutionInstanceNotConnected, &error);
            return Self::Instance(failure.showing(ConnectionStatus::Disconnected));
        }
        if error.is_connection_closed() {
            let failure = Failure::new(ErrorKey::EvolutionConnectionClosed, &error);
            return Self::Instance(failure.showing(ConnectionStatus::Disconnected));
        }
        match &error {
            EvolutionError::Timeout => {
                Self::Unknown(Failure::new(ErrorKey::EvolutionTimeout, &error))
            }
            EvolutionError::Interrupted(_) => {
                Self::Unknown(Failure::new(ErrorKey::EvolutionInterrupted, &error))
            }
            // A success status whose body is not a sent message: it may have gone out.
            EvolutionError::InvalidResponse(_) => {
                Self::Unknown(Failure::new(ErrorKey::EvolutionInvalidResponse, &error))
            }
            EvolutionError::Status { status: 401, .. } => Self::Instance(
                Failure::new(ErrorKey::EvolutionUnauthorized, &error)
                    .showing(ConnectionStatus::Error),
            ),
            EvolutionError::NotFound(_) => Self::Instance(
                Failure::new(ErrorKey::EvolutionInstanceMissing, &error)
                    .showing(ConnectionStatus::Error),
            ),
            EvolutionError::Unreachable(_) | EvolutionError::NotPublic(_) => {
                Self::Instance(Failure::new(ErrorKey::EvolutionUnavailable, &error))
            }
            EvolutionError::Status { status, .. } if *status >= 500 => {
                Self::Instance(Failure::new(ErrorKey::EvolutionUnavailable, &error))
            }
            EvolutionError::Status { .. } | EvolutionError::Refused(_) => {
                Self::Instance(Failure::new(ErrorKey::EvolutionRejected, &error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> Result<String, EvolutionError> {
        Err(EvolutionError::Status {
            status: code,
            message: message.into(),
            readable: true,
        })
    }

    #[test]
    fn every_answer_of_the_reference_has_its_verdict() {
        assert_eq!(Verdict::of(Ok("3EB0".into())), Verdict::Sent("3EB0".into()));
        let not_on_whatsapp = status(
            400,
            r#"{"jid":"5511@s.whatsapp.net","exists":false,"number":"5511"}"#,
        );
        assert!(matches!(
            Verdict::of(not_on_whatsapp),
            Verdict::Recipient(_)
        ));
        for closed in [
            status(500, "Connection Closed"),
            status(400, "Error: Connection Closed"),
        ] {
            let Verdict::Instance(failure) = Verdict::of(closed) else {
                panic!("an instance failure");
            };
            assert_eq!(failure.shows, Some(ConnectionStatus::Disconnected));
        }
        let never_connected = status(
            500,
            "Cannot read properties of undefined (reading 'onWhatsApp')",
        );
        let Verdict::Instance(failure) = Verdict::of(never_connected) else {
            panic!("an instance failure, to fail over");
        };
        assert_eq!(failure.error_key, ErrorKey::EvolutionInstanceNotConnected);
        assert_eq!(failure.shows, Some(ConnectionStatus::Disconnected));
        let Verdict::Instance(unauthorized) = Verdict::of(status(401, "Unauthorized")) else {
            panic!("an instance failure");
        };
        assert_eq!(unauthorized.shows, Some(ConnectionStatus::Error));
        for failing in [
            status(503, "Service Unavailable"),
            Err(EvolutionError::Unreachable("connection refused".into())),
            status(400, "instance requires property \"text\""),
        ] {
            let Verdict::Instance(failure) = Verdict::of(failing) else {
                panic!("an instance failure");
            };
            assert_eq!(failure.shows, None, "the answer shows no state");
        }
        for unknown in [
            Err(EvolutionError::Timeout),
            Err(EvolutionError::Interrupted("reset".into())),
            Err(EvolutionError::InvalidResponse("{}".into())),
        ] {
            assert!(matches!(Verdict::of(unknown), Verdict::Unknown(_)));
        }
    }
}
