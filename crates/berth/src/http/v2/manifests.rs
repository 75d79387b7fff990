//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::{Reference, RepositoryName};
use http_body_util::BodyExt;

use super::{content_length, discard};
use crate::app::AppState;
use crate::http::api_v0::signing::SigningPolicy;
use crate::http::error::{ApiError, Code, header_value};

/// Serves a manifest with its media type, digest, length and ETag.
pub async fn get(app: &AppState, name: &RepositoryName, reference: &Reference, head: bool) -> Result<Response, ApiError> {
    let manifest = app.registry.get_manifest(name.as_str(), reference).await?;
    if let Reference::Tag(tag) = reference {
        signed_pull(app, name, tag.as_str(), manifest.digest.as_str()).await?;
    }
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
    let pushed = app.registry.put_manifest(name, reference, content_type, content).await?;
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
pub async fn delete(app: &AppState, name: &RepositoryName, reference: &Reference) -> Result<Response, ApiError> {
    app.registry.delete_manifest(name.as_str(), reference).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}

/// The "signed pulls only" policy (of the repository or its namespace): with it on, a pull by tag answers only when the tag
/// is signed in the repository's trust data with this very digest. Pulls by digest are
/// not affected (a trusted pull resolves the tag itself, then pulls by digest).
async fn signed_pull(app: &AppState, name: &RepositoryName, tag: &str, digest: &str) -> Result<(), ApiError> {
    let (repo, namespace) = (name.as_str().to_owned(), crate::http::api_v0::signing::setting_name(name.namespace()));
    let (enforced, keys) = app
        .registry
        .meta()
        .read(move |r| {
            let record = r.repository(&repo)?;
            let repository = record.as_ref().is_some_and(|r| r.signed_pulls_only);
            let mut keys = record.map(|r| r.signature_keys).unwrap_or_default();
            let namespace = SigningPolicy::from_setting(r.setting(&namespace)?);
            keys.extend(namespace.signature_keys);
            Ok((repository || namespace.signed_pulls_only, keys))
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if !enforced {
        return Ok(());
    }
    if !keys.is_empty() && oci_signed(app, name, digest, &keys).await? {
        return Ok(());
    }
    let signed = app.trust.signed_tags(name.as_str()).await?;
    match signed.get(tag) {
        Some(target) if target.digest == digest => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Code::Denied,
            format!("policy \"signed pulls only\" of {name}: tag {tag} points at {digest}, which is not the digest signed in the repository's trust data"),
        )),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Code::Denied,
            format!("policy \"signed pulls only\" of {name}: tag {tag} is not signed in the repository's trust data, nor by a cosign or notation signature from a configured key"),
        )),
    }
}

/// Whether an OCI signature of `digest` by one of `keys` is in the repository: a cosign
/// signature (an OCI 1.1 referrer of cosign's artifact type, or the classic
/// `sha256-<hex>.sig` tag) or a notation signature (a referrer holding a JWS envelope).
async fn oci_signed(app: &AppState, name: &RepositoryName, digest: &str, keys: &[String]) -> Result<bool, ApiError> {
    use berth_trust::{cosign, notation};
    let (repo, subject) = (name.as_str().to_owned(), digest.to_owned());
    let manifests = app
        .registry
        .meta()
        .read(move |r| {
            let mut candidates: Vec<String> = Vec::new();
            for kind in [cosign::ARTIFACT_TYPE, notation::ARTIFACT_TYPE] {
                candidates.extend(r.referrers(&repo, &subject, Some(kind))?.into_iter().map(|d| d.digest.to_string()));
            }
            if let Some(tagged) = r.tag(&repo, &format!("{}.sig", subject.replacen(':', "-", 1)))? {
                candidates.push(tagged.to_string());
            }
            let mut out = Vec::new();
            for candidate in candidates {
                if let Some(content) = r.manifest_content(&candidate)? {
                    out.push(content);
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    for content in manifests {
        let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&content) else { continue };
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            let Some(blob) = layer["digest"].as_str().and_then(|d| d.parse::<berth_core::Digest>().ok()) else { continue };
            let verified = match layer["mediaType"].as_str() {
                Some(cosign::SIMPLE_SIGNING) => {
                    let Some(signature) = layer["annotations"][cosign::SIGNATURE_ANNOTATION].as_str() else { continue };
                    let Some(payload) = read_small_blob(app, name, &blob).await else { continue };
                    cosign::verify_simple_signing(&payload, signature, keys, digest)
                }
                Some(notation::JWS_ENVELOPE) => {
                    let Some(envelope) = read_small_blob(app, name, &blob).await else { continue };
                    notation::verify_jws(&envelope, keys, digest)
                }
                _ => false,
            };
            if verified {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A payload blob of at most 64 KiB, or `None`.
async fn read_small_blob(app: &AppState, name: &RepositoryName, digest: &berth_core::Digest) -> Option<Vec<u8>> {
    use futures_util::StreamExt;
    let mut reader = app.registry.open_blob(name.as_str(), digest, None).await.ok()?;
    if reader.size > 64 << 10 {
        return None;
    }
    let mut out = Vec::new();
    while let Some(chunk) = reader.stream.next().await {
        out.extend_from_slice(&chunk.ok()?);
    }
    Some(out)
}
