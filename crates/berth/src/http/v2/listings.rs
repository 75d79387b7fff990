//! `GET /v2/<name>/tags/list`, `GET /v2/_catalog` (both sorted, paged with `n` and
//! `last`, with a `Link` to the next page), and `GET /v2/<name>/referrers/<digest>`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::Subject;
use berth_core::{Digest, RepositoryName, media_type};
use berth_registry::{Listing, Page};
use serde_json::json;

use super::query_param;
use crate::app::AppState;
use crate::http::error::{ApiError, Code, header_value};

/// The most entries one page returns, whatever `n` asks.
const MAX_PAGE: usize = 10_000;

fn page(query: &str) -> Result<Page, ApiError> {
    let n = match query_param(query, "n") {
        None => None,
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, Code::Unsupported, format!("invalid number of results requested: {text:?}"))
        })?),
    };
    Ok(Page { last: query_param(query, "last"), n: Some(n.unwrap_or(MAX_PAGE).min(MAX_PAGE)) })
}

/// Answers a listing, with `Link: <path?n=&last=>; rel="next"` when more remain.
fn listing_response(path: &str, page: &Page, listing: &Listing, body: serde_json::Value) -> Response {
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if let (true, Some(last)) = (listing.more, listing.items.last()) {
        let n = page.n.unwrap_or(MAX_PAGE);
        let link = format!("<{path}?n={n}&last={}>; rel=\"next\"", form_urlencoded::byte_serialize(last.as_bytes()).collect::<String>());
        response.headers_mut().insert(header::LINK, header_value(&link));
    }
    response
}

/// `GET /v2/<name>/tags/list`.
pub async fn tags(app: &AppState, name: &RepositoryName, query: &str) -> Result<Response, ApiError> {
    let page = page(query)?;
    let listing = app.registry.tags(name, page.clone()).await?;
    let body = json!({"name": name, "tags": listing.items});
    Ok(listing_response(&format!("/v2/{name}/tags/list"), &page, &listing, body))
}

/// `GET /v2/_catalog`: the repositories the caller may pull from.
pub async fn catalog(app: &AppState, query: &str, subject: Subject) -> Result<Response, ApiError> {
    let page = page(query)?;
    let listing = app.auth.catalog(&subject, page.clone()).await?;
    let body = json!({"repositories": listing.items});
    Ok(listing_response("/v2/_catalog", &page, &listing, body))
}

/// `GET /v2/<name>/referrers/<digest>`: an OCI index of the manifests whose subject is
/// `digest`, filtered by `artifactType` (announced in `OCI-Filters-Applied`).
pub async fn referrers(app: &AppState, name: &RepositoryName, digest: &Digest, query: &str) -> Result<Response, ApiError> {
    let artifact_type = query_param(query, "artifactType");
    let filtered = artifact_type.is_some();
    let manifests = app.registry.referrers(name, digest, artifact_type).await?;
    let body = json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": manifests});
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, media_type::OCI_INDEX)], body.to_string()).into_response();
    if filtered {
        response.headers_mut().insert("oci-filters-applied", header_value("artifactType"));
    }
    Ok(response)
}
