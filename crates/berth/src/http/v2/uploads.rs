//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic with `?digest=`, or
//! mount with `?mount=&from=`), and on `/v2/<name>/blobs/uploads/<id>`: `PATCH` (a chunk),
//! `PUT ?digest=` (finish), `GET` (status), `DELETE` (cancel).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::range::parse_content_range;
use berth_core::{Digest, RepositoryName};
use berth_registry::{UploadId, UploadState};

use super::{body_stream, content_length, has_body, query_param};
use crate::app::AppState;
use crate::http::auth;
use crate::http::error::{ApiError, header_value};
use berth_auth::{Action, Subject};

fn upload_location(name: &RepositoryName, id: &UploadId) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// The `Range` header of an upload: `0-<last byte>` (`0-0` when empty, as clients expect).
fn upload_range(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

/// `202` with where the upload stands.
fn upload_progress(status: StatusCode, name: &RepositoryName, state: &UploadState) -> Response {
    (
        status,
        [
            (header::LOCATION, header_value(&upload_location(name, &state.id))),
            (header::RANGE, header_value(&upload_range(state.offset))),
            (header::HeaderName::from_static("docker-upload-uuid"), header_value(state.id.as_str())),
            (header::CONTENT_LENGTH, header_value("0")),
        ],
    )
        .into_response()
}

fn blob_created(name: &RepositoryName, digest: &Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::LOCATION, header_value(&format!("/v2/{name}/blobs/{digest}"))),
            (header::HeaderName::from_static("docker-content-digest"), header_value(digest.as_str())),
            (header::CONTENT_LENGTH, header_value("0")),
        ],
    )
        .into_response()
}

fn digest_param(query: &str) -> Result<Option<Digest>, ApiError> {
    match query_param(query, "digest") {
        None => Ok(None),
        Some(text) => {
            text.parse().map(Some).map_err(|e: berth_core::DigestError| berth_registry::Error::DigestInvalid(e.to_string()).into())
        }
    }
}

/// Adds the upload's `Location` and `Range` to a chunk-order refusal, so the client can resume.
fn with_progress(e: berth_registry::Error, name: &RepositoryName, id: &UploadId) -> ApiError {
    let current = match &e {
        berth_registry::Error::ChunkOutOfOrder { current, .. } => Some(*current),
        _ => None,
    };
    let error = ApiError::from(e);
    match current {
        Some(offset) => error
            .header(header::LOCATION, header_value(&upload_location(name, id)))
            .header(header::RANGE, header_value(&upload_range(offset)))
            .header(header::HeaderName::from_static("docker-upload-uuid"), header_value(id.as_str())),
        None => error,
    }
}

/// `POST /v2/<name>/blobs/uploads/`.
pub async fn start(app: &AppState, subject: &Subject, name: &RepositoryName, query: &str, body: Body) -> Result<Response, ApiError> {
    let registry = &app.registry;
    if let (Some(mount), Some(from)) = (query_param(query, "mount"), query_param(query, "from")) {
        let digest: Digest =
            mount.parse().map_err(|e: berth_core::DigestError| ApiError::from(berth_registry::Error::DigestInvalid(e.to_string())))?;
        // A `from` that is malformed, or that the caller may not pull from, cannot lend
        // the blob: fall through to a normal upload.
        if let Ok(from) = from.parse::<RepositoryName>()
            && auth::may(app, subject, from.as_str(), Action::Pull).await?
            && registry.mount_blob(name, &digest, &from).await?.is_some()
        {
            // Named apart, so that metrics do not count a mount as an upload.
            let mut response = blob_created(name, &digest);
            response.extensions_mut().insert(super::super::RouteName("mount"));
            return Ok(response);
        }
    }
    let digest = digest_param(query)?;
    let state = registry.start_upload(name).await?;
    match digest {
        Some(digest) => {
            let body = has_body(&body).then(|| body_stream(app, body));
            registry.complete_upload(name, &state.id, &digest, body).await.map_err(|e| with_progress(e, name, &state.id))?;
            Ok(blob_created(name, &digest))
        }
        None => Ok(upload_progress(StatusCode::ACCEPTED, name, &state)),
    }
}

/// `GET /v2/<name>/blobs/uploads/<id>`: `204` with the `Range` received so far.
pub async fn status(app: &AppState, name: &RepositoryName, id: &UploadId) -> Result<Response, ApiError> {
    let state = app.registry.upload_status(name, id).await?;
    Ok(upload_progress(StatusCode::NO_CONTENT, name, &state))
}

/// The chunk a `Content-Range` names: malformed is `400`; a range no upload can reach
/// (its end at the last offset a `u64` holds) is `416`, with where the upload stands.
async fn chunk_range(
    app: &AppState,
    name: &RepositoryName,
    id: &UploadId,
    headers: &HeaderMap,
) -> Result<Option<berth_core::ByteRange>, ApiError> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else { return Ok(None) };
    match parse_content_range(value.to_str().unwrap_or("")) {
        Ok(range) => Ok(Some(range)),
        Err(berth_core::RangeError::Unsatisfiable(_)) => {
            let state = app.registry.upload_status(name, id).await?;
            let e = berth_registry::Error::ChunkOutOfOrder { current: state.offset, requested: u64::MAX };
            Err(with_progress(e, name, id))
        }
        Err(e) => Err(berth_registry::Error::UploadInvalid(e.to_string()).into()),
    }
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk, `202`; `416` when out of order.
pub async fn patch(app: &AppState, name: &RepositoryName, id: &UploadId, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let range = chunk_range(app, name, id, headers).await?;
    let state = app
        .registry
        .append_upload(name, id, range, content_length(headers), body_stream(app, body))
        .await
        .map_err(|e| with_progress(e, name, id))?;
    Ok(upload_progress(StatusCode::ACCEPTED, name, &state))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (if any), verify, publish: `201`.
pub async fn finish(
    app: &AppState,
    name: &RepositoryName,
    id: &UploadId,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let digest = digest_param(query)?
        .ok_or_else(|| ApiError::from(berth_registry::Error::DigestInvalid("the digest query parameter is required".into())))?;
    let registry = &app.registry;
    if let Some(range) = chunk_range(app, name, id, headers).await? {
        // A final chunk with a Content-Range must continue where the upload stands.
        let state = registry.upload_status(name, id).await?;
        if range.first != state.offset {
            let e = berth_registry::Error::ChunkOutOfOrder { current: state.offset, requested: range.first };
            return Err(with_progress(e, name, id));
        }
    }
    let body = has_body(&body).then(|| body_stream(app, body));
    registry.complete_upload(name, id, &digest, body).await.map_err(|e| with_progress(e, name, id))?;
    Ok(blob_created(name, &digest))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: `204`.
pub async fn cancel(app: &AppState, name: &RepositoryName, id: &UploadId) -> Result<Response, ApiError> {
    app.registry.cancel_upload(name, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
