//! One error for every way a call to Evolution can fail, and the parsing of its error
//! envelope, whose `message` is a string, an array of strings, an array holding one
//! array (schema validation) or an array of objects (reference sections 1.3 and 7).

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EvolutionError {
    /// No connection could be made, or it broke before an answer arrived.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Not called: the server is not on a public address (see [`crate::targets`]).
    #[error("refused: {0}")]
    NotPublic(String),
    /// The request was sent and the connection broke before the answer was complete:
    /// whether the server carried it out is unknown.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// The answer did not arrive within the request timeout.
    #[error("no answer within the timeout")]
    Timeout,
    /// Evolution's own 404 for an instance it does not have (not one for a route it lacks,
    /// nor a 404 page of something that is not Evolution).
    #[error("HTTP 404: {0}")]
    NotFound(String),
    /// An HTTP error status with Evolution's message.
    #[error("HTTP {status}: {message}")]
    Status {
        status: u16,
        message: String,
        /// Whether `message` was read from a JSON answer (Evolution's words), not the
        /// raw text of whatever answered (a proxy's error page, another service).
        readable: bool,
    },
    /// HTTP 200 with `{"error": true, "message": ...}`, as connect and restart answer.
    #[error("{0}")]
    Refused(String),
    /// A success status with a body that is not what the endpoint answers.
    #[error("unexpected answer: {0}")]
    InvalidResponse(String),
}

impl EvolutionError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::NotFound(_) => Some(404),
            _ => None,
        }
    }

    /// What went wrong, as the metrics count it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::NotPublic(_) => "not_public",
            Self::Interrupted(_) => "interrupted",
            Self::Timeout => "timeout",
            Self::NotFound(_) => "not_found",
            Self::Status { status, .. } if *status >= 500 => "http_5xx",
            Self::Status { .. } => "http_4xx",
            Self::Refused(_) => "refused",
            Self::InvalidResponse(_) => "invalid_response",
        }
    }

    /// Evolution's own words about the failure, when it said something that means
    /// something: the message of its answer (bounded), never `[object Object]`, and
    /// nothing for a failure on the way (those are Relevo's words, for the log).
    pub fn upstream(&self) -> Option<&str> {
        let words = match self {
            Self::NotFound(words)
            | Self::Refused(words)
            | Self::Status {
                message: words,
                readable: true,
                ..
            } => words.trim(),
            _ => return None,
        };
        let meaningless = words
            .split("; ")
            .all(|part| part.trim().is_empty() || part.trim() == "[object Object]");
        (!meaningless).then_some(words)
    }

    /// The instance is not on the server.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    /// `instance/logout`'s 400 `The "x" instance is not connected` (reference §2.7).
    pub fn is_not_connected(&self) -> bool {
        matches!(self, Self::Status { status: 400, message, .. } if message.contains("not connected"))
    }

    /// `instance/create` of a name the server already has.
    pub fn is_name_in_use(&self) -> bool {
        self.status() == Some(403)
    }

    /// `message/sendText`'s 400 for a number that is not on WhatsApp: its `message` holds
    /// `{"jid", "exists": false, "number"}` (reference §2.12).
    pub fn is_not_on_whatsapp(&self) -> bool {
        matches!(self, Self::Status { status: 400, message, .. } if message.contains("\"exists\":false"))
    }

    /// The instance's WhatsApp connection is closed: `Connection Closed`, as a 500 with a
    /// string or a 400 with `["Error: Connection Closed"]` (reference §2.12).
    pub fn is_connection_closed(&self) -> bool {
        matches!(self, Self::Status { message, .. } if message.contains("Connection Closed"))
    }

    /// The instance has no live WhatsApp socket at all (one that never connected):
    /// `sendText` fails inside Evolution with a 500 `Cannot read properties of undefined
    /// (reading 'onWhatsApp')` (seen on the real 2.3.6).
    pub fn is_instance_not_loaded(&self) -> bool {
        matches!(self, Self::Status { status, message, .. } if *status >= 500
            && message.contains("Cannot read properties of undefined"))
    }

    /// Worth another try for a call that may be repeated.
    pub(super) fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Interrupted(_))
            || self.status().is_some_and(|s| s >= 500)
    }

    pub(super) fn from_status(status: u16, body: &str) -> Self {
        let message = envelope_message(body);
        // Unknown routes answer `Cannot <METHOD> <path>` in the same envelope.
        if status == 404 && is_envelope(body) && !message.starts_with("Cannot ") {
            return Self::NotFound(message);
        }
        Self::Status {
            status,
            message,
            readable: said_in_json(body),
        }
    }
}

const MAX_MESSAGE_CHARS: usize = 300;

/// The readable text of an error body: `response.message` of Evolution's envelope, a
/// top-level `message` or `error` (the 2.4 licence gate), or the raw text.
pub(super) fn envelope_message(body: &str) -> String {
    let text = match serde_json::from_str::<Value>(body) {
        Ok(json) => json
            .pointer("/response/message")
            .or_else(|| json.get("message"))
            .or_else(|| json.get("error"))
            .map(flatten)
            .unwrap_or_else(|| body.to_string()),
        Err(_) => body.to_string(),
    };
    bounded(&text)
}

/// `text` trimmed, and cut after [`MAX_MESSAGE_CHARS`] characters.
pub(super) fn bounded(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    }
}

/// A JSON answer with a message where Evolution puts one.
fn said_in_json(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|json| {
        json.pointer("/response/message")
            .or_else(|| json.get("message"))
            .or_else(|| json.get("error"))
            .is_some()
    })
}

/// `{"status", "error", "response": {"message"}}`: an answer of Evolution itself.
fn is_envelope(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .is_ok_and(|json| json.pointer("/response/message").is_some())
}

/// Strings as they are, arrays (nested ones too) joined with "; ", objects as JSON.
pub(super) fn flatten(message: &Value) -> String {
    match message {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(flatten).collect::<Vec<_>>().join("; "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_shape_of_the_reference_is_read() {
        let cases = [
            (
                r#"{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}"#,
                "Unauthorized",
            ),
            (
                r#"{"status":404,"error":"Not Found","response":{"message":["The \"foo\" instance does not exist"]}}"#,
                r#"The "foo" instance does not exist"#,
            ),
            (
                r#"{"status":400,"error":"Bad Request","response":{"message":[["instance requires property \"text\""]]}}"#,
                r#"instance requires property "text""#,
            ),
            (
                r#"{"status":400,"error":"Bad Request","response":{"message":[{"jid":"5511@s.whatsapp.net","exists":false,"number":"5511"}]}}"#,
                r#"{"jid":"5511@s.whatsapp.net","exists":false,"number":"5511"}"#,
            ),
            (
                r#"{"error":"service not activated","code":"LICENSE_REQUIRED","message":"Register this server"}"#,
                "Register this server",
            ),
            ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        ];
        for (body, expected) in cases {
            assert_eq!(envelope_message(body), expected, "{body}");
        }
    }

    #[test]
    fn only_meaningful_upstream_words_are_kept() {
        let said = |message: &str| EvolutionError::Status {
            status: 500,
            message: message.into(),
            readable: true,
        };
        assert_eq!(
            said("Connection Closed").upstream(),
            Some("Connection Closed")
        );
        assert_eq!(said("").upstream(), None);
        let page = EvolutionError::from_status(502, "<html>secret internal page</html>");
        assert_eq!(page.upstream(), None);
        let envelope = EvolutionError::from_status(
            500,
            r#"{"status":500,"error":"Internal Server Error","response":{"message":"Connection Closed"}}"#,
        );
        assert_eq!(envelope.upstream(), Some("Connection Closed"));
        assert_eq!(
            EvolutionError::Refused("[object Object]; [object Object]".into()).upstream(),
            None
        );
        assert_eq!(
            EvolutionError::Unreachable("connection refused".into()).upstream(),
            None
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        let message = envelope_message(&"x".repeat(1000));
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn only_evolutions_own_404_means_a_missing_instance() {
        let missing = r#"{"status":404,"error":"Not Found","response":{"message":["The \"foo\" instance does not exist"]}}"#;
        assert!(EvolutionError::from_status(404, missing).is_not_found());
        let route = r#"{"status":404,"error":"Not Found","response":{"message":["Cannot GET /websocket/find/foo"]}}"#;
        assert!(!EvolutionError::from_status(404, route).is_not_found());
        assert!(!EvolutionError::from_status(404, "<h1>404 Not Found</h1>").is_not_found());
    }

    #[test]
    fn statuses_are_classified() {
        let error = EvolutionError::from_status(404, r#"{"response":{"message":["x"]}}"#);
        assert!(error.is_not_found() && !error.is_transient());
        assert!(EvolutionError::from_status(503, "").is_transient());
        assert!(EvolutionError::Unreachable("refused".into()).is_transient());
        assert!(!EvolutionError::Timeout.is_transient());
        assert!(EvolutionError::from_status(403, "").is_name_in_use());
        let not_on_whatsapp = r#"{"status":400,"error":"Bad Request","response":{"message":[{"jid":"5511@s.whatsapp.net","exists":false,"number":"5511"}]}}"#;
        assert!(EvolutionError::from_status(400, not_on_whatsapp).is_not_on_whatsapp());
        let closed_500 = r#"{"status":500,"error":"Internal Server Error","response":{"message":"Connection Closed"}}"#;
        let closed_400 = r#"{"status":400,"error":"Bad Request","response":{"message":["Error: Connection Closed"]}}"#;
        for body in [closed_500, closed_400] {
            let error =
                EvolutionError::from_status(if body == closed_500 { 500 } else { 400 }, body);
            assert!(
                error.is_connection_closed() && !error.is_not_on_whatsapp(),
                "{body}"
            );
        }
    }
}
