//! Tags of a repository with their content-trust state, in DTR's shapes: `inNotary` (the
//! tag is signed in the repository's trust data) and `hashMismatch` (it is signed, but
//! the registry's tag points at another manifest). A signed tag cannot be deleted until
//! its signature is removed (`TAG_IN_NOTARY`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::Action;
use berth_registry::TagState;

use super::repositories::{repository_name, require};
use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

fn tag_model(tag: &TagState) -> model::Tag {
    model::Tag { name: tag.name.clone(), digest: tag.digest.clone(), in_notary: tag.signed.is_some(), hash_mismatch: tag.hash_mismatch() }
}

fn no_such_tag() -> ApiV0Error {
    ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TAG", "no such tag")
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the tags with digest, inNotary and hashMismatch", body = [model::Tag]), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 404, description = "NO_SUCH_REPOSITORY", body = model::ErrorBody)))]
/// Lists a repository's tags with their trust state (whoever may pull).
pub async fn list(State(app): State<AppState>, caller: Caller, Path((ns, repo)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Pull).await?;
    let tags = app.registry.tags_with_trust(&name).await?;
    Ok(Json(tags.iter().map(tag_model).collect::<Vec<_>>()).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 200, description = "the tag with digest, inNotary and hashMismatch", body = model::Tag), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 404, description = "NO_SUCH_TAG", body = model::ErrorBody)))]
/// One tag with its trust state.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Pull).await?;
    let found = app.registry.tag_with_trust(&name, &tag).await?.filter(|t| t.digest.is_some()).ok_or_else(no_such_tag)?;
    Ok(Json(tag_model(&found)).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}/trust", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 200, description = "the signed digest and the role that signed it", body = model::TagTrust), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 404, description = "NO_SUCH_TAG", body = model::ErrorBody)))]
/// The trust data of one tag: the signed digest and the signing role.
pub async fn trust(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Pull).await?;
    let found = app.registry.tag_with_trust(&name, &tag).await?;
    let digest = found.as_ref().and_then(|t| t.digest.clone());
    let Some(state) = found.filter(|t| t.signed.is_some()) else {
        let unsigned = model::TagTrust { name: tag, digest, in_notary: false, hash_mismatch: false, signed_digest: None, signers: vec![] };
        return Ok(Json(unsigned).into_response());
    };
    let mismatch = state.hash_mismatch();
    let Some(target) = state.signed else { return Err(no_such_tag()) };
    let signer = if target.role == "targets" { "Repo Admin".to_owned() } else { target.role.trim_start_matches("targets/").to_owned() };
    Ok(Json(model::TagTrust {
        name: tag,
        digest,
        in_notary: true,
        hash_mismatch: mismatch,
        signed_digest: Some(target.digest),
        signers: vec![model::Signer { role: target.role, name: signer }],
    })
    .into_response())
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 204, description = "deleted"), (status = 400, description = "TAG_IN_NOTARY: the tag is signed; remove its signature first. TAG_IMMUTABLE: the repository's tags are immutable", body = model::ErrorBody), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 404, description = "NO_SUCH_TAG", body = model::ErrorBody)))]
/// Deletes a tag, unless it is signed in the trust data.
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Pull).await?;
    require(&app, &caller, &name, Action::Delete).await?;
    let tag: berth_core::Tag = tag.parse().map_err(|_| no_such_tag())?;
    app.registry.delete_manifest(&name, &berth_core::Reference::Tag(tag), caller.0.name()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
