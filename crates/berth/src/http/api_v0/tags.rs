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
use serde_json::{Value, json};

use super::repositories::{repository_name, require};
use super::{ApiV0Error, Caller};
use crate::app::AppState;

fn tag_json(tag: &TagState) -> Value {
    json!({"name": tag.name, "digest": tag.digest, "inNotary": tag.signed.is_some(), "hashMismatch": tag.hash_mismatch()})
}

fn no_such_tag() -> ApiV0Error {
    ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TAG", "no such tag")
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the tags with digest, inNotary and hashMismatch"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_REPOSITORY")))]
/// Lists a repository's tags with their trust state (whoever may pull).
pub async fn list(State(app): State<AppState>, caller: Caller, Path((ns, repo)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Pull).await?;
    let tags = app.registry.tags_with_trust(&name).await?;
    Ok(Json(tags.iter().map(tag_json).collect::<Vec<_>>()).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 200, description = "the tag with digest, inNotary and hashMismatch"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_TAG")))]
/// One tag with its trust state.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Pull).await?;
    let found = app.registry.tag_with_trust(&name, &tag).await?.filter(|t| t.digest.is_some()).ok_or_else(no_such_tag)?;
    Ok(Json(tag_json(&found)).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}/trust", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 200, description = "the signed digest and the role that signed it"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_TAG")))]
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
        return Ok(Json(json!({"name": tag, "digest": digest, "inNotary": false, "signers": []})).into_response());
    };
    let mismatch = state.hash_mismatch();
    let Some(target) = state.signed else { return Err(no_such_tag()) };
    let signer = if target.role == "targets" { "Repo Admin".to_owned() } else { target.role.trim_start_matches("targets/").to_owned() };
    Ok(Json(json!({
        "name": tag, "digest": digest, "inNotary": true, "hashMismatch": mismatch,
        "signedDigest": target.digest, "signers": [{"role": target.role, "name": signer}],
    }))
    .into_response())
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/tags/{tag}", tag = "tags", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("tag" = String, Path, description = "tag")), responses((status = 204, description = "deleted"), (status = 400, description = "TAG_IN_NOTARY: the tag is signed; remove its signature first. TAG_IMMUTABLE: the repository's tags are immutable"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 404, description = "NO_SUCH_TAG")))]
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
