//! What every request meets before a handler, and every answer after it: a NUL
//! character in the path or the query, a method the path does not take, a body that
//! trickles in, and an error the framework answered without a JSON body.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;

use crate::error::{ApiError, ErrorKey, FieldErrors, Resource};
use crate::i18n::{Locale, Msg};
use crate::state::AppState;

/// Refuses, before routing, a NUL character in the path (404: no resource is named
/// so) or in the query (422 naming the parameter), and a method the documented path
/// does not take (405 with `Allow`).
pub async fn screen_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(refusal) = refusal(&req) {
        return Ok(req.error_response(refusal).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn refusal(req: &ServiceRequest) -> Option<ApiError> {
    // A NUL byte can only arrive percent-encoded: the HTTP parser refuses a raw one.
    if req.uri().path().contains("%00") {
        return Some(ApiError::not_found(Resource::Route));
    }
    let query = req.query_string();
    if query.contains("%00") {
        let mut errors = FieldErrors::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if name.contains('\0') || value.contains('\0') {
                errors.add(&name, Msg::NulCharacter);
            }
        }
        if let Err(error) = errors.into_result(Locale::of_request(req.request())) {
            return Some(error);
        }
    }
    let allowed = RouteTable::documented().allowed(req.path())?;
    if allowed.contains(req.method().as_str()) {
        return None;
    }
    Some(method_not_allowed(allowed))
}

/// 405 with the methods the path does take.
pub fn method_not_allowed<'a>(allowed: impl IntoIterator<Item = &'a str>) -> ApiError {
    let allow = allowed.into_iter().collect::<Vec<_>>().join(", ");
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorKey::RouteMethodNotAllowed,
        "The method is not allowed for the requested route.",
    )
    .with_header(header::ALLOW, allow)
}

/// The paths of the OpenAPI document with the methods each takes. The document is fed by
/// the same handlers as the router, so it is the list of what the router answers.
pub struct RouteTable(Vec<(Vec<Segment>, BTreeSet<String>)>);

#[derive(PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

impl RouteTable {
    pub fn documented() -> &'static RouteTable {
        static TABLE: OnceLock<RouteTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            let document = crate::openapi::document();
            RouteTable::new(document.paths.paths.iter().map(|(path, item)| {
                let operations = [
                    (Method::GET, &item.get),
                    (Method::PUT, &item.put),
                    (Method::POST, &item.post),
                    (Method::DELETE, &item.delete),
                    (Method::OPTIONS, &item.options),
                    (Method::HEAD, &item.head),
                    (Method::PATCH, &item.patch),
                    (Method::TRACE, &item.trace),
                ];
                let methods = operations
                    .into_iter()
                    .filter(|(_, operation)| operation.is_some())
                    .map(|(method, _)| method.to_string());
                (path.clone(), methods.collect())
            }))
        })
    }

    pub fn new(paths: impl IntoIterator<Item = (String, BTreeSet<String>)>) -> Self {
        Self(
            paths
                .into_iter()
                .map(|(path, methods)| {
                    let segments = path
                        .split('/')
                        .map(|segment| match segment.starts_with('{') {
                            true => Segment::Parameter,
                            false => Segment::Literal(segment.to_string()),
                        })
                        .collect();
                    (segments, methods)
                })
                .collect(),
        )
    }

    /// The methods the documented path matching `path` takes; `None` when no documented
    /// path matches. Where several match (`/provision` and `/{id}`), the one with a
    /// literal segment where the other has a parameter wins, as it would for a reader.
    pub fn allowed(&self, path: &str) -> Option<BTreeSet<&str>> {
        let segments: Vec<&str> = path.split('/').collect();
        let matching = self.0.iter().filter(|(template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| match t {
                    Segment::Literal(literal) => literal == s,
                    Segment::Parameter => !s.is_empty(),
                })
        });
        let specificity = |template: &[Segment]| -> Vec<bool> {
            template
                .iter()
                .map(|segment| matches!(segment, Segment::Literal(_)))
                .collect()
        };
        let best = matching.clone().map(|(t, _)| specificity(t)).max()?;
        Some(
            matching
                .filter(|(template, _)| specificity(template) == best)
                .flat_map(|(_, methods)| methods.iter().map(String::as_str))
                .collect(),
        )
    }
}

/// Cuts a request body off when it has not fully arrived within `RELEVO_BODY_TIMEOUT_MS`
/// of its headers: 408 `request.timeout`, and the connection is closed. actix-web's own
/// client request timeout covers the headers only.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    let timeout = req
        .app_data::<Data<AppState>>()
        .map(|state| Duration::from_millis(state.settings.body_timeout_ms));
    let (true, Some(timeout)) = (has_body, timeout) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let timed_out = Rc::new(Cell::new(false));
    let payload = DeadlinePayload {
        inner: req.take_payload(),
        deadline: Box::pin(tokio::time::sleep(timeout)),
        timed_out: timed_out.clone(),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(payload),
    });
    let response = next.call(req).await?;
    if !timed_out.get() {
        return Ok(response.map_into_left_body());
    }
    let error = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        ErrorKey::RequestTimeout,
        format!(
            "The request body did not arrive within {} ms.",
            timeout.as_millis()
        ),
    );
    let mut answer = error.error_response();
    answer
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(response.into_response(answer).map_into_right_body())
}

struct DeadlinePayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Rc<Cell<bool>>,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.timed_out.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timed_out.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request body deadline",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Gives a JSON body to an error the framework answered with another (or none), such
/// as a 405 of a resource or a payload error of an extractor; keeps its headers.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match next.call(req).await {
        Ok(response) => Ok(with_json_error(response)),
        Err(error) if error.as_error::<ApiError>().is_some() => Err(error),
        Err(error) => Err(json_error(error.as_response_error().status_code()).into()),
    }
}

fn with_json_error<B: MessageBody>(response: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    let status = response.status();
    if status.as_u16() < 400 || is_json {
        return response.map_into_left_body();
    }
    let mut answer = json_error(status).error_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response.into_response(answer).map_into_right_body()
}

/// The JSON error of a status the framework chose.
fn json_error(status: StatusCode) -> ApiError {
    let (key, message) = match status {
        StatusCode::BAD_REQUEST => (ErrorKey::RequestMalformed, "The request could not be read."),
        StatusCode::NOT_FOUND => (
            ErrorKey::RouteNotFound,
            "The requested route does not exist",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorKey::RouteMethodNotAllowed,
            "The method is not allowed for the requested route.",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorKey::RequestTimeout,
            "The request took too long to arrive.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorKey::RequestTooLarge, "The request body is too large.")
        }
        status if status.is_server_error() => (ErrorKey::ServerInternal, "Internal server error."),
        _ => (ErrorKey::RequestRejected, "The request was rejected."),
    };
    ApiError::new(status, key, message)
}

/// Paths whose next segment is a secret (an inbound webhook's server token).
const SECRET_SEGMENT_AFTER: &[&str] = &["/api/v1/webhooks/evolution/"];

/// The request line for the access log: the query keeps its parameter names, never
/// their values (a search term or a token has no place in a log file), and a secret
/// path segment is starred out.
pub fn redacted_request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    let mut line = format!("{} {}", req.method(), redacted_path(req.path()));
    if !query.is_empty() {
        let names: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(name, _)| {
                let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
                format!("{name}=*")
            })
            .collect();
        line.push('?');
        line.push_str(&names.join("&"));
    }
    line.push_str(&format!(" {:?}", req.version()));
    line
}

fn redacted_path(path: &str) -> String {
    for prefix in SECRET_SEGMENT_AFTER {
        if let Some(rest) = path.strip_prefix(prefix) {
            let after_secret = rest.find('/').map_or("", |at| &rest[at..]);
            return format!("{prefix}*{after_secret}");
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_log_stars_out_a_webhook_token() {
        for (path, logged) in [
            (
                "/api/v1/webhooks/evolution/s3cr3tT0ken",
                "POST /api/v1/webhooks/evolution/* HTTP/1.1",
            ),
            (
                "/api/v1/webhooks/evolution/s3cr3tT0ken/connection-update",
                "POST /api/v1/webhooks/evolution/*/connection-update HTTP/1.1",
            ),
        ] {
            let req = actix_web::test::TestRequest::post()
                .uri(path)
                .to_srv_request();
            assert_eq!(redacted_request_line(&req), logged);
        }
    }

    fn table() -> RouteTable {
        let methods = |list: &[&str]| list.iter().map(|m| m.to_string()).collect();
        RouteTable::new([
            (
                "/api/v1/tenants/{tenant}/whatsapp-instances/provision".to_string(),
                methods(&["POST"]),
            ),
            (
                "/api/v1/tenants/{tenant}/whatsapp-instances/{id}".to_string(),
                methods(&["GET", "PUT", "DELETE"]),
            ),
            ("/api/v1/tenants".to_string(), methods(&["GET", "POST"])),
        ])
    }

    #[test]
    fn a_literal_segment_wins_over_a_parameter() {
        let table = table();
        let provision = table.allowed("/api/v1/tenants/acme/whatsapp-instances/provision");
        assert_eq!(provision, Some(BTreeSet::from(["POST"])));
        let instance = table.allowed("/api/v1/tenants/acme/whatsapp-instances/7");
        assert_eq!(instance, Some(BTreeSet::from(["DELETE", "GET", "PUT"])));
    }

    #[test]
    fn the_access_log_keeps_query_names_not_values() {
        let req = actix_web::test::TestRequest::with_uri(
            "/api/v1/whatsapp-instances?search=ana%40example.com&page=2&flag",
        )
        .to_srv_request();
        assert_eq!(
            redacted_request_line(&req),
            "GET /api/v1/whatsapp-instances?search=*&page=*&flag=* HTTP/1.1"
        );
    }

    #[test]
    fn unknown_paths_are_left_to_the_router() {
        let table = table();
        assert_eq!(table.allowed("/api/v1/nope"), None);
        assert_eq!(table.allowed("/api/v1/tenants/"), None);
        assert_eq!(table.allowed("/api/v1/tenants//whatsapp-instances/7"), None);
    }

    #[test]
    fn the_documented_table_knows_the_seed_paths() {
        let allowed = RouteTable::documented()
            .allowed("/api/v1/tenants/5/whatsapp-instances/1/toggle-active");
        assert_eq!(allowed, Some(BTreeSet::from(["POST"])));
    }
}
