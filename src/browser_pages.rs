//! The pages Relevo serves to people's browsers, the admin console (`/console/`) and
//! Swagger UI (`/docs/`), carry one set of security headers: no MIME sniffing, no
//! referrer, no framing, and a content security policy that lets each page load only
//! from this origin. The API's JSON answers need none of it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// The console: only this origin (images also as data URLs: the QR codes), no framing.
pub const CONSOLE_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Swagger UI: as the console, but its React components set inline styles, and its
/// stylesheet draws icons as data URLs. Its scripts are files (no inline script runs).
pub const DOCS_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of the page at `path`, when it is one served to browsers.
fn policy_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/console/") {
        Some(CONSOLE_POLICY)
    } else if path.starts_with("/docs/") {
        Some(DOCS_POLICY)
    } else {
        None
    }
}

/// Adds the security headers to every answer under `/console/` and `/docs/` (`304 Not
/// Modified` included). An error the API answers there is its JSON body, which a browser
/// does not render as a page.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policy = policy_of(req.path());
    let mut response = next.call(req).await?;
    if let Some(policy) = policy {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_browser_pages_get_a_policy() {
        assert_eq!(policy_of("/console/"), Some(CONSOLE_POLICY));
        assert_eq!(policy_of("/console/js/app.js"), Some(CONSOLE_POLICY));
        assert_eq!(policy_of("/docs/"), Some(DOCS_POLICY));
        assert_eq!(policy_of("/docs/swagger-ui.css"), Some(DOCS_POLICY));
        assert_eq!(policy_of("/api-docs/openapi.json"), None);
        assert_eq!(policy_of("/api/v1/tenants"), None);
        assert_eq!(policy_of("/documents"), None);
    }
}
