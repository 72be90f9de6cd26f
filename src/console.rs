//! The admin console (SPEC §10): the files under `console/`, embedded in the binary at
//! build time and served at `/console/`. The console is a client of the public REST API
//! like any other, so nothing here reads the database or is an API operation: like
//! Swagger UI, it stays out of the OpenAPI document. Its security headers are set with
//! Swagger UI's, in [`crate::browser_pages`].

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use crate::edge::method_not_allowed;
use crate::error::{ApiError, Resource};

#[derive(RustEmbed)]
#[folder = "console/"]
struct Assets;

/// `/console` redirects to `/console/`, which serves `index.html`; any other path is a
/// file of the console or a 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::redirect("/console", "/console/")).service(
        web::resource("/console/{file:.*}")
            .route(web::get().to(serve))
            .route(web::head().to(serve))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(method_not_allowed(["GET", "HEAD"]))
            })),
    );
}

async fn serve(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = match file.as_str() {
        "" => "index.html",
        name => name,
    };
    let asset = Assets::get(name).ok_or_else(|| ApiError::not_found(Resource::Route))?;
    let etag = format!("\"{}\"", hex(&asset.metadata.sha256_hash()));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == etag.as_bytes());
    let mut response = match fresh {
        true => HttpResponse::NotModified(),
        false => HttpResponse::Ok(),
    };
    response
        .insert_header((header::ETAG, etag))
        // Revalidated on every load, so a new build's files are picked up at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        return Ok(response.finish());
    }
    Ok(response
        .content_type(content_type(asset.metadata.mimetype()))
        .body(asset.data.into_owned()))
}

/// Text is always UTF-8 here; JavaScript is `text/javascript` (RFC 9239), `.mjs` included.
fn content_type(mime: &str) -> String {
    match mime {
        "application/javascript" | "text/javascript" => "text/javascript; charset=utf-8".into(),
        text if text.starts_with("text/") => format!("{text}; charset=utf-8"),
        other => other.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_ships_its_page_and_libraries() {
        for file in [
            "index.html",
            "app.css",
            "js/app.js",
            "vendor/qrcode.mjs",
            "vendor/uPlot.iife.min.js",
        ] {
            assert!(Assets::get(file).is_some(), "{file} is embedded");
        }
    }

    #[test]
    fn text_types_say_their_charset() {
        assert_eq!(content_type("text/html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("text/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("application/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("image/svg+xml"), "image/svg+xml");
    }
}
