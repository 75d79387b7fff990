//! Push and poll mirroring policies, in DTR's paths and shapes: listed, made, changed
//! and deleted by the repository's administrators. The remote's password is written,
//! never read back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::Action;
use berth_core::RepositoryName;
use berth_registry::{MirrorDirection, MirrorPolicy, MirrorPolicySpec};
use berth_services::NewMirror;
use berth_services::webhooks::rfc3339;
use serde::Deserialize;

use super::repositories::{repository_name, require};
use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// The remote's user and password (or token).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteCredentials {
    /// The user.
    username: String,
    /// Their password or token; on a change, leave it out to keep the stored one.
    password: Option<String>,
}

/// A mirroring policy as created or replaced.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MirrorPolicyBody {
    /// Whether it acts (default true).
    #[serde(default = "enabled")]
    enabled: bool,
    /// Rules that all hold for a tag to be mirrored (default: none, every tag).
    #[serde(default)]
    rules: Vec<model::TagRule>,
    /// The remote registry, `https://host[:port]`.
    remote_host: String,
    /// The repository there.
    remote_repository: String,
    /// Push: the tag made at the remote: `{tag}`, `{digest}` (12 hex digits), `{date}`,
    /// `{time}` are replaced (default `{tag}`).
    #[serde(default = "same_tag")]
    tag_template: String,
    /// Poll: seconds between two polls (default 300).
    #[serde(default = "five_minutes")]
    poll_every_secs: u64,
    /// Who to log in to the remote as (none: anonymously).
    remote_credentials: Option<RemoteCredentials>,
    /// PEM certificates the remote's must chain to, instead of the system's.
    #[serde(rename = "remoteCA")]
    remote_ca: Option<String>,
}

fn enabled() -> bool {
    true
}

fn same_tag() -> String {
    "{tag}".to_owned()
}

fn five_minutes() -> u64 {
    300
}

impl MirrorPolicyBody {
    fn into_new(self, direction: MirrorDirection) -> NewMirror {
        let (username, password) = self.remote_credentials.map_or((None, None), |c| (Some(c.username), c.password));
        let spec = MirrorPolicySpec {
            direction,
            enabled: self.enabled,
            rules: self.rules.into_iter().map(Into::into).collect(),
            remote_host: self.remote_host,
            remote_repository: self.remote_repository,
            tag_template: self.tag_template,
            username,
            sealed_password: None,
            remote_ca: self.remote_ca,
            poll_every_secs: self.poll_every_secs,
        };
        NewMirror { spec, password }
    }
}

fn policy_model(id: &str, p: &MirrorPolicy) -> model::MirrorPolicy {
    let push = p.direction == MirrorDirection::Push;
    let status = if push {
        match p.log.last() {
            None => "waiting",
            Some(_) if !p.pending.is_empty() => "retrying",
            Some(last) if last.error.is_some() => "failed",
            Some(_) => "ok",
        }
    } else if p.next_poll_at == 0 {
        "waiting"
    } else if p.failures > 0 {
        "retrying"
    } else {
        "ok"
    };
    model::MirrorPolicy {
        id: id.to_owned(),
        enabled: p.enabled,
        rules: p.rules.iter().map(Into::into).collect(),
        remote_host: p.remote_host.clone(),
        remote_repository: p.remote_repository.clone(),
        tag_template: push.then(|| p.tag_template.clone()),
        poll_every_secs: (!push).then_some(p.poll_every_secs),
        username: p.username.clone(),
        has_password: p.sealed_password.is_some(),
        remote_ca: p.remote_ca.clone(),
        created_by: p.created_by.clone(),
        created_at: p.created_at,
        status: status.to_owned(),
        pending: p
            .pending
            .iter()
            .map(|m| model::PendingMirror {
                tag: m.tag.clone(),
                digest: m.digest.clone(),
                remote_tag: m.remote_tag.clone(),
                attempts: m.attempts,
                next_at: rfc3339(m.next_at),
            })
            .collect(),
        log: p
            .log
            .iter()
            .rev()
            .map(|l| model::MirrorLogEntry {
                at: rfc3339(l.at),
                tag: l.tag.clone(),
                digest: l.digest.clone(),
                remote_tag: l.remote_tag.clone(),
                error: l.error.clone(),
                will_retry: l.will_retry,
            })
            .collect(),
    }
}

/// The repository, once the caller administers it.
async fn administered(app: &AppState, caller: &Caller, ns: &str, repo: &str) -> Result<RepositoryName, ApiV0Error> {
    let name = repository_name(ns, repo)?;
    require(app, caller, &name, Action::Admin).await?;
    Ok(name)
}

async fn list(app: AppState, caller: Caller, (ns, repo): (String, String), direction: MirrorDirection) -> Result<Response, ApiV0Error> {
    let name = administered(&app, &caller, &ns, &repo).await?;
    let policies: Vec<model::MirrorPolicy> =
        app.registry.mirror_policies(&name, direction).await?.iter().map(|(id, p)| policy_model(id, p)).collect();
    Ok(Json(policies).into_response())
}

async fn create(
    app: AppState,
    caller: Caller,
    (ns, repo): (String, String),
    body: MirrorPolicyBody,
    direction: MirrorDirection,
) -> Result<Response, ApiV0Error> {
    let name = administered(&app, &caller, &ns, &repo).await?;
    let by = caller.0.name().unwrap_or_default().to_owned();
    let (id, policy) = app.mirroring.create(&app.registry, &name, body.into_new(direction), &by).await?;
    Ok((StatusCode::CREATED, Json(policy_model(&id, &policy))).into_response())
}

async fn get(
    app: AppState,
    caller: Caller,
    (ns, repo, id): (String, String, String),
    direction: MirrorDirection,
) -> Result<Response, ApiV0Error> {
    let name = administered(&app, &caller, &ns, &repo).await?;
    let policy = app.registry.mirror_policy(&name, &id, direction).await?;
    Ok(Json(policy_model(&id, &policy)).into_response())
}

async fn update(
    app: AppState,
    caller: Caller,
    (ns, repo, id): (String, String, String),
    body: MirrorPolicyBody,
    direction: MirrorDirection,
) -> Result<Response, ApiV0Error> {
    let name = administered(&app, &caller, &ns, &repo).await?;
    let policy = app.mirroring.update(&app.registry, &name, &id, body.into_new(direction)).await?;
    Ok(Json(policy_model(&id, &policy)).into_response())
}

async fn delete(
    app: AppState,
    caller: Caller,
    (ns, repo, id): (String, String, String),
    direction: MirrorDirection,
) -> Result<Response, ApiV0Error> {
    let name = administered(&app, &caller, &ns, &repo).await?;
    app.registry.delete_mirror_policy(&name, &id, direction).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/pushMirroringPolicies", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the repository's push mirroring policies", body = [model::MirrorPolicy]), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists a repository's push mirroring policies, with their status and log (repository admins).
pub async fn list_push(State(app): State<AppState>, caller: Caller, Path(path): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    list(app, caller, path, MirrorDirection::Push).await
}

#[utoipa::path(post, path = "/api/v0/repositories/{ns}/{repo}/pushMirroringPolicies", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), request_body = MirrorPolicyBody, responses((status = 201, description = "the policy", body = model::MirrorPolicy), (status = 400, description = "INVALID_INPUT: a rule, remote, template or CA that does not hold", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Makes a push mirroring policy: later pushes (and signatures) of matching tags are pushed to the remote.
pub async fn create_push(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    Json(body): Json<MirrorPolicyBody>,
) -> Result<Response, ApiV0Error> {
    create(app, caller, path, body, MirrorDirection::Push).await
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/pushMirroringPolicies/{id}", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 200, description = "the policy, with its status and log", body = model::MirrorPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// One push mirroring policy, with its status, the tags it will try again, and its log.
pub async fn get_push(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    get(app, caller, path, MirrorDirection::Push).await
}

#[utoipa::path(put, path = "/api/v0/repositories/{ns}/{repo}/pushMirroringPolicies/{id}", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), request_body = MirrorPolicyBody, responses((status = 200, description = "the policy", body = model::MirrorPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Replaces a push mirroring policy's settings (the password stays unless one is given).
pub async fn update_push(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    Json(body): Json<MirrorPolicyBody>,
) -> Result<Response, ApiV0Error> {
    update(app, caller, path, body, MirrorDirection::Push).await
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/pushMirroringPolicies/{id}", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 204, description = "deleted"), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Deletes a push mirroring policy.
pub async fn delete_push(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    delete(app, caller, path, MirrorDirection::Push).await
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/pollMirroringPolicies", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), responses((status = 200, description = "the repository's poll mirroring policies", body = [model::MirrorPolicy]), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists a repository's poll mirroring policies, with their status and log (repository admins).
pub async fn list_poll(State(app): State<AppState>, caller: Caller, Path(path): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    list(app, caller, path, MirrorDirection::Poll).await
}

#[utoipa::path(post, path = "/api/v0/repositories/{ns}/{repo}/pollMirroringPolicies", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace")), request_body = MirrorPolicyBody, responses((status = 201, description = "the policy", body = model::MirrorPolicy), (status = 400, description = "INVALID_INPUT: a rule, remote or CA that does not hold", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Makes a poll mirroring policy: the remote repository's matching tags are pulled here on a schedule (the first poll at once).
pub async fn create_poll(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    Json(body): Json<MirrorPolicyBody>,
) -> Result<Response, ApiV0Error> {
    create(app, caller, path, body, MirrorDirection::Poll).await
}

#[utoipa::path(get, path = "/api/v0/repositories/{ns}/{repo}/pollMirroringPolicies/{id}", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 200, description = "the policy, with its status and log", body = model::MirrorPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// One poll mirroring policy, with its status and log.
pub async fn get_poll(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    get(app, caller, path, MirrorDirection::Poll).await
}

#[utoipa::path(put, path = "/api/v0/repositories/{ns}/{repo}/pollMirroringPolicies/{id}", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), request_body = MirrorPolicyBody, responses((status = 200, description = "the policy", body = model::MirrorPolicy), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Replaces a poll mirroring policy's settings (the password stays unless one is given); the next poll is at once.
pub async fn update_poll(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    Json(body): Json<MirrorPolicyBody>,
) -> Result<Response, ApiV0Error> {
    update(app, caller, path, body, MirrorDirection::Poll).await
}

#[utoipa::path(delete, path = "/api/v0/repositories/{ns}/{repo}/pollMirroringPolicies/{id}", tag = "mirroring", params(("ns" = String, Path, description = "namespace"), ("repo" = String, Path, description = "repository within the namespace"), ("id" = String, Path, description = "policy id")), responses((status = 204, description = "deleted"), (status = 404, description = "NO_SUCH_POLICY", body = model::ErrorBody)))]
/// Deletes a poll mirroring policy.
pub async fn delete_poll(
    State(app): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    delete(app, caller, path, MirrorDirection::Poll).await
}
