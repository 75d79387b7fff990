//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::{Reference, RepositoryName};
use http_body_util::BodyExt;

use super::{content_length, discard};
use crate::app::AppState;
use crate::http::error::{ApiError, header_value};

/// Serves a manifest with its media type, digest, length and ETag (a pull by tag obeys
/// the repository's signing policy; the registry decides; a pull-through cache's
/// repository is served through the cache).
pub async fn get(app: &AppState, name: &RepositoryName, reference: &Reference, head: bool) -> Result<Response, ApiError> {
    let manifest = app.pull_through.manifest(&app.registry, name, reference).await?;
    let headers = [
        (header::CONTENT_TYPE, header_value(&manifest.media_type)),
        (header::CONTENT_LENGTH, header_value(&manifest.content.len().to_string())),
        (header::HeaderName::from_static("docker-content-digest"), header_value(manifest.digest.as_str())),
        (header::ETAG, header_value(&format!("\"{}\"", manifest.digest))),
    ];
    if head {
        return Ok((StatusCode::OK, headers).into_response());
    }
    Ok((StatusCode::OK, headers, manifest.content).into_response())
}

/// Stores a manifest: `201` with its `Location` and digest (and `OCI-Subject` for referrers).
pub async fn put(
    app: &AppState,
    name: &RepositoryName,
    reference: &Reference,
    headers: &HeaderMap,
    body: Body,
    by: Option<&str>,
) -> Result<Response, ApiError> {
    let limit = app.registry.limits().max_manifest_size;
    let too_large = || berth_registry::Error::TooLarge(format!("manifest exceeds the limit of {limit} bytes"));
    if content_length(headers).is_some_and(|len| len > limit as u64) {
        discard(body.into_data_stream());
        return Err(too_large().into());
    }
    let content = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large().into()),
        Err(e) => return Err(berth_registry::Error::BodyInterrupted(e.to_string()).into()),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let pushed = app.registry.put_manifest(name, reference, content_type, content, by).await?;
    let mut response = (
        StatusCode::CREATED,
        [
            (header::LOCATION, header_value(&format!("/v2/{name}/manifests/{}", pushed.digest))),
            (header::HeaderName::from_static("docker-content-digest"), header_value(pushed.digest.as_str())),
            (header::CONTENT_LENGTH, header_value("0")),
        ],
    )
        .into_response();
    if let Some(subject) = pushed.subject {
        response.headers_mut().insert("oci-subject", header_value(subject.as_str()));
    }
    Ok(response)
}

/// Deletes by digest (manifest and its tags) or by tag (that tag only): `202`.
pub async fn delete(app: &AppState, name: &RepositoryName, reference: &Reference, by: Option<&str>) -> Result<Response, ApiError> {
    app.registry.delete_manifest(name, reference, by).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}
