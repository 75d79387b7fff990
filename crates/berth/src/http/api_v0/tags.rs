//! Tags of a repository with their content-trust state, in DTR's shapes: `inNotary` (the
//! tag is signed in the repository's trust data) and `hashMismatch` (it is signed, but
//! the registry's tag points at another manifest). A signed tag cannot be deleted until
//! its signature is removed (`TAG_IN_NOTARY`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::Action;
use berth_trust::TrustedTarget;
use serde_json::{Value, json};

use super::{ApiV0Error, Caller};
use crate::app::AppState;

async fn allowed(app: &AppState, caller: &Caller, repository: &str, action: Action) -> Result<(), ApiV0Error> {
    if !app.auth.may(&caller.0, repository, action).await? {
        return Err(ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY", "no such repository"));
    }
    Ok(())
}

/// Every tag of `repository` with its digest, and the tags signed in its trust data.
async fn tags_and_signatures(app: &AppState, repository: &str) -> Result<(Vec<(String, String)>, BTreeMap<String, TrustedTarget>), ApiV0Error> {
    let repo = repository.to_owned();
    let tags = app
        .registry
        .meta()
        .read(move |r| {
            if !r.repository_exists(&repo)? {
                return Ok(None);
            }
            let mut out = Vec::new();
            for tag in r.tags(&repo, &berth_meta::Page::default())?.items {
                if let Some(digest) = r.tag(&repo, &tag)? {
                    out.push((tag, digest.to_string()));
                }
            }
            Ok(Some(out))
        })
        .await
        .map_err(|e| ApiV0Error::internal(&e))?
        .ok_or_else(|| ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY", "no such repository"))?;
    let signed = app.trust.signed_tags(repository).await.map_err(|e| ApiV0Error::internal(&e))?;
    Ok((tags, signed))
}

fn tag_json(name: &str, digest: &str, signed: Option<&TrustedTarget>) -> Value {
    json!({
        "name": name,
        "digest": digest,
        "inNotary": signed.is_some(),
        "hashMismatch": signed.is_some_and(|s| s.digest != digest),
    })
}

fn no_such_tag() -> ApiV0Error {
    ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TAG", "no such tag")
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the tags with digest, inNotary and hashMismatch"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_REPOSITORY")))]
/// Lists a repository's tags with their trust state (whoever may pull).
pub async fn list(State(app): State<AppState>, caller: Caller, Path((ns, repo)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let full = format!("{ns}/{repo}");
    allowed(&app, &caller, &full, Action::Pull).await?;
    let (tags, signed) = tags_and_signatures(&app, &full).await?;
    let body: Vec<Value> = tags.iter().map(|(t, d)| tag_json(t, d, signed.get(t))).collect();
    Ok(Json(body).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 200, description = "the tag with digest, inNotary and hashMismatch"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_TAG")))]
/// One tag with its trust state.
pub async fn get(State(app): State<AppState>, caller: Caller, Path((ns, repo, tag)): Path<(String, String, String)>) -> Result<Response, ApiV0Error> {
    let full = format!("{ns}/{repo}");
    allowed(&app, &caller, &full, Action::Pull).await?;
    let (tags, signed) = tags_and_signatures(&app, &full).await?;
    let (name, digest) = tags.iter().find(|(t, _)| *t == tag).ok_or_else(no_such_tag)?;
    Ok(Json(tag_json(name, digest, signed.get(name))).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}/trust", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 200, description = "the signed digest and the role that signed it"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_TAG")))]
/// The trust data of one tag: the signed digest and the signing role.
pub async fn trust(State(app): State<AppState>, caller: Caller, Path((ns, repo, tag)): Path<(String, String, String)>) -> Result<Response, ApiV0Error> {
    let full = format!("{ns}/{repo}");
    allowed(&app, &caller, &full, Action::Pull).await?;
    let (tags, signed) = tags_and_signatures(&app, &full).await?;
    let current = tags.iter().find(|(t, _)| *t == tag).map(|(_, d)| d.clone());
    let Some(target) = signed.get(&tag) else {
        return Ok(Json(json!({"name": tag, "digest": current, "inNotary": false, "signers": []})).into_response());
    };
    let signer = if target.role == "targets" { "Repo Admin".to_owned() } else { target.role.trim_start_matches("targets/").to_owned() };
    let mismatch = current.as_deref().is_some_and(|d| d != target.digest);
    Ok(Json(json!({
        "name": tag, "digest": current, "inNotary": true, "hashMismatch": mismatch,
        "signedDigest": target.digest, "signers": [{"role": target.role, "name": signer}],
    }))
    .into_response())
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 204, description = "deleted"), (status = 400, description = "TAG_IN_NOTARY: the tag is signed; remove its signature first"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_TAG")))]
/// Deletes a tag, unless it is signed in the trust data.
pub async fn delete(State(app): State<AppState>, caller: Caller, Path((ns, repo, tag)): Path<(String, String, String)>) -> Result<Response, ApiV0Error> {
    let full = format!("{ns}/{repo}");
    allowed(&app, &caller, &full, Action::Pull).await?;
    if !app.auth.may(&caller.0, &full, Action::Delete).await? {
        return Err(ApiV0Error::forbidden());
    }
    let tag: berth_core::Tag = tag.parse().map_err(|_| no_such_tag())?;
    app.registry.delete_manifest(&full, &berth_core::Reference::Tag(tag)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
