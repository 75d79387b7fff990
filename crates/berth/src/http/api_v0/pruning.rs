//! Pruning policies, in DTR's shapes: listed, made, changed, deleted and run (or dry run)
//! by the repository's administrators.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::Action;
use berth_registry::{PrunedTag, PruningPolicy, PruningPolicySpec};
use serde::Deserialize;

use super::repositories::{repository_name, require};
use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// A pruning policy as created or replaced.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PruningPolicyBody {
    /// Whether the schedule runs it (default true).
    #[serde(default = "enabled")]
    enabled: bool,
    /// Rules that all hold for a tag to go.
    rules: Vec<model::TagRule>,
    /// Of the matching tags, the newest this many stay.
    #[serde(default)]
    keep_newest: u64,
    /// Tags signed in the trust data may go too.
    #[serde(default)]
    prune_signed: bool,
    /// Tags of a repository whose tags are immutable may go too.
    #[serde(default)]
    prune_immutable: bool,
}

fn enabled() -> bool {
    true
}

impl PruningPolicyBody {
    fn spec(self) -> PruningPolicySpec {
        PruningPolicySpec {
            enabled: self.enabled,
            rules: self.rules.into_iter().map(Into::into).collect(),
            keep_newest: self.keep_newest,
            prune_signed: self.prune_signed,
            prune_immutable: self.prune_immutable,
        }
    }
}

/// `?initialEvaluation=` of a creation.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct CreateQuery {
    /// Run the policy once at once.
    #[serde(default)]
    initial_evaluation: bool,
}

/// `?dryRun=` of a run.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct RunQuery {
    /// List what would go, removing nothing.
    #[serde(default)]
    dry_run: bool,
}

fn policy_model(id: &str, p: &PruningPolicy) -> model::PruningPolicy {
    model::PruningPolicy {
        id: id.to_owned(),
        enabled: p.enabled,
        rules: p.rules.iter().map(Into::into).collect(),
        keep_newest: p.keep_newest,
        prune_signed: p.prune_signed,
        prune_immutable: p.prune_immutable,
        created_by: p.created_by.clone(),
        created_at: p.created_at,
        last_run: p.last_run.as_ref().map(|r| model::PruningRun { at: r.at, pruned: r.pruned, error: r.error.clone() }),
    }
}

fn run_model(dry_run: bool, tags: Vec<PrunedTag>) -> model::PruningResult {
    model::PruningResult { dry_run, tags: tags.into_iter().map(|t| model::PrunedTag { name: t.tag, digest: t.digest }).collect() }
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/pruningPolicies", tag = "pruning", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the repository's pruning policies", body = [model::PruningPolicy]), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists a repository's pruning policies (repository admins).
pub async fn list(State(app): State<AppState>, caller: Caller, Path((ns, repo)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let policies: Vec<model::PruningPolicy> =
        app.registry.pruning_policies(&name).await?.iter().map(|(id, p)| policy_model(id, p)).collect();
    Ok(Json(policies).into_response())
}

#[utoipa::path(post, path = "/api/v0/repositories/{ns}/{repo}/pruningPolicies", tag = "pruning", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), CreateQuery), request_body = PruningPolicyBody, responses((status = 201, description = "the policy", body = model::PruningPolicy), (status = 400, description = "INVALID_INPUT: a rule that cannot hold", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Makes a pruning policy; with `initialEvaluation=true` it runs once at once.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo)): Path<(String, String)>,
    Query(query): Query<CreateQuery>,
    Json(body): Json<PruningPolicyBody>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let by = caller.0.name().unwrap_or_default().to_owned();
    let (id, mut policy) = app.registry.create_pruning_policy(&name, body.spec(), &by).await?;
    if query.initial_evaluation {
        app.registry.run_pruning_policy(&name, &id, false).await?;
        policy = app.registry.pruning_policy(&name, &id).await?;
    }
    Ok((StatusCode::CREATED, Json(policy_model(&id, &policy))).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/pruningPolicies/{id}", tag = "pruning", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 200, description = "the policy", body = model::PruningPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// One pruning policy, with its last run.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, id)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let policy = app.registry.pruning_policy(&name, &id).await?;
    Ok(Json(policy_model(&id, &policy)).into_response())
}

#[utoipa::path(put, path = "/api/v0/repositories/{ns}/{repo}/pruningPolicies/{id}", tag = "pruning", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), request_body = PruningPolicyBody, responses((status = 200, description = "the policy", body = model::PruningPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Replaces a pruning policy's rules and switches.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, id)): Path<(String, String, String)>,
    Json(body): Json<PruningPolicyBody>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let policy = app.registry.update_pruning_policy(&name, &id, body.spec()).await?;
    Ok(Json(policy_model(&id, &policy)).into_response())
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/pruningPolicies/{id}", tag = "pruning", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 204, description = "deleted"), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Deletes a pruning policy.
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, id)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    app.registry.delete_pruning_policy(&name, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/api/v0/repositories/{ns}/{repo}/pruningPolicies/{id}/run", tag = "pruning", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id"), RunQuery), responses((status = 200, description = "the tags removed (or, dry, that would be)", body = model::PruningResult), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Runs a pruning policy now, enabled or not; `dryRun=true` lists what would go.
pub async fn run(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, id)): Path<(String, String, String)>,
    Query(query): Query<RunQuery>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let tags = app.registry.run_pruning_policy(&name, &id, query.dry_run).await?;
    Ok(Json(run_model(query.dry_run, tags)).into_response())
}
