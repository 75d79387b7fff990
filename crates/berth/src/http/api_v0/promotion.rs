//! Promotion policies, in DTR's shapes: listed, made, changed and deleted by the source
//! repository's administrators who may also push to the target.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::Action;
use berth_core::RepositoryName;
use berth_registry::{PromotionPolicy, PromotionPolicySpec};
use serde::Deserialize;

use super::repositories::{repository_name, require};
use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// A promotion policy as created or replaced.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromotionPolicyBody {
    /// Whether it acts (default true).
    #[serde(default = "enabled")]
    enabled: bool,
    /// Rules that all hold for a pushed or signed tag to be promoted.
    rules: Vec<model::TagRule>,
    /// `namespace/repository` promoted to.
    target_repository: String,
    /// The tag made there: `{tag}`, `{digest}` (12 hex digits), `{date}` (YYYYMMDD, UTC),
    /// `{time}` (HHMMSS) are replaced (default `{tag}`).
    #[serde(default = "same_tag")]
    tag_template: String,
}

fn enabled() -> bool {
    true
}

fn same_tag() -> String {
    "{tag}".to_owned()
}

impl PromotionPolicyBody {
    /// The spec, once the caller may push to the target.
    async fn spec(self, app: &AppState, caller: &Caller) -> Result<PromotionPolicySpec, ApiV0Error> {
        let target: RepositoryName =
            self.target_repository.parse().map_err(|e: berth_core::NameError| ApiV0Error::invalid(format!("targetRepository: {e}")))?;
        if !app.auth.may(&caller.0, target.as_str(), Action::Push).await? {
            return Err(ApiV0Error::forbidden());
        }
        Ok(PromotionPolicySpec {
            enabled: self.enabled,
            rules: self.rules.into_iter().map(Into::into).collect(),
            target,
            tag_template: self.tag_template,
        })
    }
}

fn policy_model(id: &str, p: &PromotionPolicy) -> model::PromotionPolicy {
    model::PromotionPolicy {
        id: id.to_owned(),
        enabled: p.enabled,
        rules: p.rules.iter().map(Into::into).collect(),
        target_repository: p.target.clone(),
        tag_template: p.tag_template.clone(),
        created_by: p.created_by.clone(),
        created_at: p.created_at,
        last_promotion: p.last.as_ref().map(|l| model::Promotion {
            at: l.at,
            tag: l.source_tag.clone(),
            digest: l.digest.clone(),
            target_tag: l.target_tag.clone(),
            error: l.error.clone(),
        }),
    }
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/promotionPolicies", tag = "promotion", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the repository's promotion policies", body = [model::PromotionPolicy]), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists a repository's promotion policies (repository admins).
pub async fn list(State(app): State<AppState>, caller: Caller, Path((ns, repo)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let policies: Vec<model::PromotionPolicy> =
        app.registry.promotion_policies(&name).await?.iter().map(|(id, p)| policy_model(id, p)).collect();
    Ok(Json(policies).into_response())
}

#[utoipa::path(post, path = "/api/v0/repositories/{ns}/{repo}/promotionPolicies", tag = "promotion", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), request_body = PromotionPolicyBody, responses((status = 201, description = "the policy", body = model::PromotionPolicy), (status = 400, description = "INVALID_INPUT: a rule that cannot hold, a template that makes no tag", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED: not an admin of the repository, or may not push to the target", body = model::ErrorBody)))]
/// Makes a promotion policy: later pushes (and signatures) of matching tags are copied to the target.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo)): Path<(String, String)>,
    Json(body): Json<PromotionPolicyBody>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let spec = body.spec(&app, &caller).await?;
    let by = caller.0.name().unwrap_or_default().to_owned();
    let (id, policy) = app.registry.create_promotion_policy(&name, spec, &by).await?;
    Ok((StatusCode::CREATED, Json(policy_model(&id, &policy))).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/promotionPolicies/{id}", tag = "promotion", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 200, description = "the policy, with its last promotion", body = model::PromotionPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// One promotion policy, with its last promotion (or why it failed).
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, id)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let policy = app.registry.promotion_policy(&name, &id).await?;
    Ok(Json(policy_model(&id, &policy)).into_response())
}

#[utoipa::path(put, path = "/api/v0/repositories/{ns}/{repo}/promotionPolicies/{id}", tag = "promotion", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), request_body = PromotionPolicyBody, responses((status = 200, description = "the policy", body = model::PromotionPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Replaces a promotion policy's rules, target and template.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, id)): Path<(String, String, String)>,
    Json(body): Json<PromotionPolicyBody>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    let spec = body.spec(&app, &caller).await?;
    let policy = app.registry.update_promotion_policy(&name, &id, spec).await?;
    Ok(Json(policy_model(&id, &policy)).into_response())
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/promotionPolicies/{id}", tag = "promotion", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 204, description = "deleted"), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Deletes a promotion policy.
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path((ns, repo, id)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    let name = repository_name(&ns, &repo)?;
    require(&app, &caller, &name, Action::Admin).await?;
    app.registry.delete_promotion_policy(&name, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
