//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::range::parse_range;
use berth_core::{Digest, RangeError, RepositoryName};

use crate::app::AppState;
use crate::http::error::{ApiError, header_value};

/// Streams a blob (`200`, or `206` for a `Range`); `HEAD` answers the headers only. A
/// pull-through cache's repository is served through the cache.
pub async fn get(app: &AppState, name: &RepositoryName, digest: &Digest, headers: &HeaderMap, head: bool) -> Result<Response, ApiError> {
    let (registry, cache) = (&app.registry, &app.pull_through);
    let info = cache.stat_blob(registry, name, digest).await?;
    // Range applies to GET only; a range in another unit, or malformed, is ignored (RFC 9110 §14.2).
    let range = match headers.get(header::RANGE).filter(|_| !head).map(|v| v.to_str().unwrap_or("")) {
        Some(value) => match parse_range(value, info.size) {
            Ok(range) => Some(range),
            Err(RangeError::Unsatisfiable(_)) => return Err(ApiError::range_not_satisfiable(info.size)),
            Err(RangeError::Malformed(_)) => None,
        },
        None => None,
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, header_value("application/octet-stream"));
    response_headers.insert("docker-content-digest", header_value(digest.as_str()));
    response_headers.insert(header::ETAG, header_value(&format!("\"{digest}\"")));
    response_headers.insert(header::ACCEPT_RANGES, header_value("bytes"));
    response_headers.insert(header::CACHE_CONTROL, header_value("max-age=31536000"));
    let (status, length) = match range {
        Some(r) => {
            response_headers.insert(header::CONTENT_RANGE, header_value(&format!("bytes {}-{}/{}", r.first, r.last, info.size)));
            (StatusCode::PARTIAL_CONTENT, r.len())
        }
        None => (StatusCode::OK, info.size),
    };
    response_headers.insert(header::CONTENT_LENGTH, header_value(&length.to_string()));
    if head {
        return Ok((status, response_headers).into_response());
    }
    let reader = cache.open_blob(registry, name, digest, range).await?;
    Ok((status, response_headers, Body::from_stream(reader.stream)).into_response())
}

/// Removes the repository's link to the blob: `202`.
pub async fn delete(app: &AppState, name: &RepositoryName, digest: &Digest) -> Result<Response, ApiError> {
    app.registry.delete_blob(name, digest).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}
