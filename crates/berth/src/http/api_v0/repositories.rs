//! Repositories and team access to them and to whole namespaces.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::{Action, Level};
use berth_core::RepositoryName;
use berth_registry::Repository;
use serde::Deserialize;

use super::{ApiV0Error, Caller, model, valid_name};
use crate::app::AppState;

/// `{ns}/{repo}` as a repository name.
pub(super) fn repository_name(ns: &str, repo: &str) -> Result<RepositoryName, ApiV0Error> {
    let full = format!("{ns}/{repo}");
    full.parse().map_err(|e: berth_core::NameError| ApiV0Error::invalid(e.to_string()))
}

/// Refuses unless the caller may do `action` on `repository`: a read refused is
/// `NO_SUCH_REPOSITORY` (private and missing repositories answer alike), a change refused
/// `NOT_AUTHORIZED` (for missing and existing repositories alike).
pub(super) async fn require(app: &AppState, caller: &Caller, repository: &RepositoryName, action: Action) -> Result<(), ApiV0Error> {
    match (app.auth.may(&caller.0, repository.as_str(), action).await?, action) {
        (true, _) => Ok(()),
        (false, Action::Pull) => Err(ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY", "no such repository")),
        (false, _) => Err(ApiV0Error::forbidden()),
    }
}

fn repository_model(namespace: &str, name: &str, r: &Repository) -> model::Repository {
    model::Repository {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        visibility: if r.public { "public" } else { "private" }.to_owned(),
        short_description: r.short_description.clone(),
        long_description: r.long_description.clone(),
        immutable_tags: r.immutable_tags,
        signed_pulls_only: r.signed_pulls_only,
        signature_keys: r.signature_keys.clone(),
        tag_limit: r.tag_limit,
    }
}

fn visibility(text: &str) -> Result<bool, ApiV0Error> {
    match text {
        "public" => Ok(true),
        "private" => Ok(false),
        other => Err(ApiV0Error::invalid(format!("visibility {other:?}: use \"public\" or \"private\""))),
    }
}

/// `POST /api/v0/repositories/{ns}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewRepository {
    name: String,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    long_description: String,
    #[serde(default)]
    immutable_tags: bool,
    #[serde(default)]
    signed_pulls_only: bool,
}

#[utoipa::path(post, path = "/api/v0/repositories/{ns}", tag = "repositories", params(("ns" = String, Path, description = "namespace")), request_body = NewRepository, responses((status = 201, description = "the repository", body = model::Repository), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Creates a repository in a namespace (whoever may push there).
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(ns): Path<String>,
    Json(new): Json<NewRepository>,
) -> Result<Response, ApiV0Error> {
    valid_name(&ns)?;
    if new.name.contains('/') {
        return Err(ApiV0Error::invalid(format!("{:?} is not one repository name component", new.name)));
    }
    let name = repository_name(&ns, &new.name)?;
    if !app.auth.may(&caller.0, name.as_str(), Action::Push).await? {
        return Err(ApiV0Error::forbidden());
    }
    let spec = berth_registry::NewRepository {
        public: new.visibility.as_deref().map(visibility).transpose()?.unwrap_or(false),
        immutable_tags: new.immutable_tags,
        short_description: new.short_description,
        long_description: new.long_description,
        signed_pulls_only: new.signed_pulls_only,
    };
    let record = app.registry.create_repository(&name, spec).await?;
    Ok((StatusCode::CREATED, Json(repository_model(&ns, &new.name, &record))).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}", tag = "repositories", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the repository", body = model::Repository), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Reads a repository (whoever may pull from it).
pub async fn get(State(app): State<AppState>, caller: Caller, Path((ns, repo)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Pull).await?;
    let record = app.registry.repository(&name).await?;
    Ok(Json(repository_model(&ns, &repo, &record)).into_response())
}

/// `PATCH /api/v0/repositories/{ns}/{repo}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryChanges {
    visibility: Option<String>,
    short_description: Option<String>,
    long_description: Option<String>,
    immutable_tags: Option<bool>,
    signed_pulls_only: Option<bool>,
    signature_keys: Option<Vec<String>>,
    /// The most tags kept (0: no limit); the next tagged push prunes the oldest beyond it.
    tag_limit: Option<u64>,
}

#[utoipa::path(patch, path = "/api/v0/repositories/{ns}/{repo}", tag = "repositories", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), request_body = RepositoryChanges, responses((status = 200, description = "the repository", body = model::Repository), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Changes a repository's settings (repository admins).
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo)): Path<(String, String)>,
    Json(changes): Json<RepositoryChanges>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let changes = berth_registry::RepositoryChanges {
        public: changes.visibility.as_deref().map(visibility).transpose()?,
        immutable_tags: changes.immutable_tags,
        short_description: changes.short_description,
        long_description: changes.long_description,
        signed_pulls_only: changes.signed_pulls_only,
        signature_keys: changes.signature_keys,
        tag_limit: changes.tag_limit,
    };
    let record = app.registry.update_repository(&name, changes).await?;
    Ok(Json(repository_model(&ns, &repo, &record)).into_response())
}

/// `{"accessLevel": "read-only" | "read-write" | "admin"}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLevel {
    access_level: String,
}

fn level(body: &AccessLevel) -> Result<Level, ApiV0Error> {
    Level::parse(&body.access_level).ok_or_else(|| ApiV0Error::invalid("accessLevel must be read-only, read-write or admin"))
}

fn team_access(org: &str, team: &str, level: Option<Level>) -> model::TeamAccess {
    model::TeamAccess {
        team: model::TeamRef { name: team.to_owned(), org_name: org.to_owned() },
        access_level: level.map(|l| l.as_str().to_owned()),
    }
}

fn grant_json(org: &str, team: &str, level: Option<Level>) -> Response {
    Json(team_access(org, team, level)).into_response()
}

#[utoipa::path(put, path = "/api/v0/repositories/{ns}/{repo}/teamAccess/{team}", tag = "access", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("team" = String, Path, description = "team")), request_body = AccessLevel, responses((status = 200, description = "the grant", body = model::TeamAccess), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Gives a team of the namespace's organization access to one repository (repository admins).
pub async fn grant_team(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, team)): Path<(String, String, String)>,
    Json(body): Json<AccessLevel>,
) -> Result<Response, ApiV0Error> {
    let level = level(&body)?;
    app.auth.set_repository_grant(&caller.0, &repository_name(&ns, &repo)?, &team, Some(level)).await?;
    Ok(grant_json(&ns, &team, Some(level)))
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/teamAccess/{team}", tag = "access", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("team" = String, Path, description = "team")), responses((status = 200, description = "withdrawn", body = model::TeamAccess), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Withdraws a team's access to a repository.
pub async fn revoke_team(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, team)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.set_repository_grant(&caller.0, &repository_name(&ns, &repo)?, &team, None).await?;
    Ok(grant_json(&ns, &team, None))
}

#[utoipa::path(put, path = "/api/v0/repositoryNamespaces/{ns}/teamAccess/{team}", tag = "access", params(("ns" = String, Path, description = "namespace"), ("team" = String, Path, description = "team")), request_body = AccessLevel, responses((status = 200, description = "the grant", body = model::TeamAccess), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Gives a team access to every repository of its organization's namespace (org owners).
pub async fn grant_namespace(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, team)): Path<(String, String)>,
    Json(body): Json<AccessLevel>,
) -> Result<Response, ApiV0Error> {
    let level = level(&body)?;
    app.auth.set_namespace_grant(&caller.0, &ns, &team, Some(level)).await?;
    Ok(grant_json(&ns, &team, Some(level)))
}

#[utoipa::path(delete, path = "/api/v0/repositoryNamespaces/{ns}/teamAccess/{team}", tag = "access", params(("ns" = String, Path, description = "namespace"), ("team" = String, Path, description = "team")), responses((status = 200, description = "withdrawn", body = model::TeamAccess), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Withdraws a team's access to a namespace.
pub async fn revoke_namespace(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.set_namespace_grant(&caller.0, &ns, &team, None).await?;
    Ok(grant_json(&ns, &team, None))
}

/// The repositories (in `namespace`, or all) the caller sees, with their settings.
async fn visible(app: &AppState, caller: &Caller, namespace: Option<&str>) -> Result<Vec<(String, Repository)>, ApiV0Error> {
    let all = app.registry.repositories(namespace).await?;
    let seen = app.auth.visible(&caller.0, all.iter().map(|(n, _)| n.clone()).collect()).await?;
    let seen: std::collections::HashSet<String> = seen.into_iter().collect();
    Ok(all.into_iter().filter(|(n, _)| seen.contains(n)).collect())
}

fn respond_repositories(path: &str, query: Option<&str>, found: Vec<(String, Repository)>) -> Result<Response, ApiV0Error> {
    let page = super::pages::PageQuery::parse(query)?;
    let names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
    let records: std::collections::HashMap<&str, &Repository> = found.iter().map(|(n, r)| (n.as_str(), r)).collect();
    Ok(page.respond(path, &names, |page| model::RepositoryPage {
        repositories: page
            .iter()
            .filter_map(|name| {
                let (ns, repo) = name.split_once('/').unwrap_or(("", name));
                records.get(name.as_str()).map(|r| repository_model(ns, repo, r))
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v0/repositories", tag = "repositories", params(("start" = Option<String>, Query, description = "list after this name"), ("limit" = Option<usize>, Query, description = "page size (default 100, at most 1000)")), responses((status = 200, description = "a page of the repositories the caller may see", body = model::RepositoryPage), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// `GET /api/v0/repositories`: every repository the caller may see, paged.
pub async fn list(State(app): State<AppState>, caller: Caller, uri: axum::http::Uri) -> Result<Response, ApiV0Error> {
    let found = visible(&app, &caller, None).await?;
    respond_repositories("/api/v0/repositories", uri.query(), found)
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}", tag = "repositories", params(("ns" = String, Path, description = "namespace"), ("start" = Option<String>, Query, description = "list after this name"), ("limit" = Option<usize>, Query, description = "page size (default 100, at most 1000)")), responses((status = 200, description = "a page of the namespace's repositories the caller may see", body = model::RepositoryPage), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// `GET /api/v0/repositories/{ns}`: a namespace's repositories the caller may see, paged.
pub async fn list_namespace(
    State(app): State<AppState>,
    caller: Caller,
    Path(ns): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, ApiV0Error> {
    let found = visible(&app, &caller, Some(&ns)).await?;
    respond_repositories(&format!("/api/v0/repositories/{ns}"), uri.query(), found)
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}", tag = "repositories", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 204, description = "deleted with everything in it"), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Deletes a repository and everything in it (repository admins).
pub async fn delete(State(app): State<AppState>, caller: Caller, Path((ns, repo)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    app.registry.delete_repository(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/teamAccess", tag = "access", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the teams with access", body = model::RepositoryTeamAccess), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// `GET …/{ns}/{repo}/teamAccess`: the teams with access to a repository (repository admins).
pub async fn list_team_access(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    let grants = app.auth.repository_grants(&caller.0, &format!("{ns}/{repo}")).await?;
    let team_access_list = grants.iter().map(|(org, team, level)| team_access(org, team, Some(*level))).collect();
    Ok(Json(model::RepositoryTeamAccess { repository: model::RepositoryRef { namespace: ns, name: repo }, team_access_list })
        .into_response())
}

#[utoipa::path(get, path = "/api/v0/repositoryNamespaces/{ns}/teamAccess", tag = "access", params(("ns" = String, Path, description = "namespace")), responses((status = 200, description = "the teams with access to every repository of the namespace", body = model::NamespaceTeamAccess), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// `GET /api/v0/repositoryNamespaces/{ns}/teamAccess`: the teams with access to a whole
/// namespace (its owners).
pub async fn list_namespace_access(State(app): State<AppState>, caller: Caller, Path(ns): Path<String>) -> Result<Response, ApiV0Error> {
    let grants = app.auth.namespace_grants(&caller.0, &ns).await?;
    let team_access_list = grants.iter().map(|(org, team, level)| team_access(org, team, Some(*level))).collect();
    Ok(Json(model::NamespaceTeamAccess { namespace: ns, team_access_list }).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{user}/repositoryAccess/{ns}/{repo}", tag = "access", params(("user" = String, Path, description = "user"), ("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the user's effective access level", body = model::UserAccess), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// `GET /api/v0/accounts/{user}/repositoryAccess/{ns}/{repo}`: a user's effective access
/// (the user themself, or a system admin).
pub async fn user_access(
    State(app): State<AppState>,
    caller: Caller,
    Path((user, ns, repo)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let level = app.auth.effective_level(&caller.0, &user, &format!("{ns}/{repo}")).await?;
    Ok(Json(model::UserAccess {
        user: model::Named { name: user },
        repository: model::RepositoryRef { namespace: ns, name: repo },
        access_level: level.map(|l| l.as_str().to_owned()),
    })
    .into_response())
}
