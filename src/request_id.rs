//! The id of the request being served. It is always Relevo's own (a fresh UUID), so a
//! client cannot plant an id in the logs and the audit trail, or make two requests look
//! like one. A caller's own `X-Request-Id` is kept beside it, as the client request id,
//! when it is 1 to 128 characters of `A-Z a-z 0-9 . _ : -`; anything else is dropped.
//! The answer's `X-Request-Id` is Relevo's id.
//!
//! Every line logged while the request is served is in its span, `request{request_id=…
//! client_request_id=…}`; work the request hands to other threads or tasks takes the span
//! along (see [`crate::telemetry`]), and the claim batch lane names the ids of the
//! requests it serves ([`current`]).

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tracing::Instrument;

use crate::error::ApiError;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client request id that is kept.
pub const CLIENT_ID_MAX_LEN: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId {
    id: String,
    client: Option<String>,
}

impl RequestId {
    /// A new id for a request whose caller sent `client` as its `X-Request-Id`.
    pub fn assign(client: Option<&[u8]>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            client: client.and_then(well_formed_client_id),
        }
    }

    /// Relevo's id of the request.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The caller's own id, when it was well formed.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }
}

fn well_formed_client_id(raw: &[u8]) -> Option<String> {
    let allowed = |byte: &u8| byte.is_ascii_alphanumeric() || b"._:-".contains(byte);
    let well_formed = (1..=CLIENT_ID_MAX_LEN).contains(&raw.len()) && raw.iter().all(allowed);
    // Only ASCII passes, so the bytes are UTF-8.
    well_formed.then(|| String::from_utf8_lossy(raw).into_owned())
}

tokio::task_local! {
    static SERVED: RequestId;
}

/// The id of the request whose task is running, if any: what the claim batch lane, which
/// serves many requests from a task of its own, names in its lines.
pub fn current() -> Option<RequestId> {
    SERVED.try_with(RequestId::clone).ok()
}

/// Gives every request its id (handlers read it to record it with the changes they
/// make, the access log prints it), serves it in its span and answers with the id in
/// `X-Request-Id`.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = RequestId::assign(req.headers().get(HEADER).map(HeaderValue::as_bytes));
    let answer = HeaderValue::from_str(request_id.as_str())
        .map_err(|_| ApiError::internal("a UUID is a valid header value"))?;
    // At error level, so that the span is there whenever any line is (`RUST_LOG=warn`).
    let span = tracing::error_span!(
        "request",
        request_id = %request_id.as_str(),
        client_request_id = tracing::field::Empty,
    );
    if let Some(client) = request_id.client() {
        span.record("client_request_id", tracing::field::display(client));
    }
    req.extensions_mut().insert(request_id.clone());
    // The whole call inside the span, its synchronous start included.
    let serve = async move { next.call(req).await }.instrument(span);
    let mut response = SERVED.scope(request_id, serve).await?;
    response.headers_mut().insert(HEADER, answer);
    Ok(response)
}

/// The access log's `%{request_id}xi`: Relevo's id.
pub fn logged_id(req: &ServiceRequest) -> String {
    logged(req, |request_id| Some(request_id.as_str()))
}

/// The access log's `%{client_request_id}xi`: the caller's id, or `-`.
pub fn logged_client_id(req: &ServiceRequest) -> String {
    logged(req, RequestId::client)
}

fn logged(req: &ServiceRequest, part: impl Fn(&RequestId) -> Option<&str>) -> String {
    let extensions = req.extensions();
    let value = extensions.get::<RequestId>().and_then(part);
    value.unwrap_or("-").to_string()
}

impl FromRequest for RequestId {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<RequestId>()
                .cloned()
                .ok_or_else(|| ApiError::internal("the request id middleware is not installed")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_id_is_kept_only_when_well_formed() {
        let longest = "a".repeat(CLIENT_ID_MAX_LEN);
        let too_long = "a".repeat(CLIENT_ID_MAX_LEN + 1);
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"req-create-tenant", Some("req-create-tenant")),
            (b"trace:0f8e2a.1_B", Some("trace:0f8e2a.1_B")),
            (longest.as_bytes(), Some(longest.as_str())),
            (too_long.as_bytes(), None),
            (b"", None),
            (b"two words", None),
            (b"line\nbreak", None),
            (b"quote\"", None),
            (b"semi;colon", None),
            ("ñandú".as_bytes(), None),
            (b"\xff\xfe", None),
        ];
        for (raw, kept) in cases {
            let request_id = RequestId::assign(Some(raw));
            assert_eq!(request_id.client(), *kept, "{raw:?}");
        }
    }

    #[test]
    fn relevos_id_is_always_its_own() {
        let first = RequestId::assign(Some(b"same-id"));
        let second = RequestId::assign(Some(b"same-id"));
        assert_ne!(first.as_str(), second.as_str());
        assert_ne!(first.as_str(), "same-id");
        assert!(uuid::Uuid::parse_str(first.as_str()).is_ok());
        assert_eq!(RequestId::assign(None).client(), None);
    }
}
