//! Pull-through cache namespaces: an organization made a cache of an upstream registry,
//! by system administrators (the registry then fetches from that upstream for whoever
//! may pull there).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_registry::CacheNamespace;
use berth_services::NewCache;
use serde::Deserialize;

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// The upstream's user and password (or token).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCredentials {
    /// The user.
    username: String,
    /// Their password or token; on a change, leave it out to keep the stored one.
    password: Option<String>,
}

/// A namespace's pull-through cache settings, as set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullThroughCacheBody {
    /// The upstream registry, `https://host[:port]` (Docker Hub: `https://registry-1.docker.io`).
    upstream: String,
    /// Who to log in to the upstream as (none: anonymously).
    upstream_credentials: Option<UpstreamCredentials>,
    /// PEM certificates the upstream's must chain to, instead of the system's.
    #[serde(rename = "remoteCA")]
    remote_ca: Option<String>,
    /// Seconds a pulled tag is served before the upstream is asked again (default 300).
    #[serde(default = "five_minutes")]
    ttl_secs: u64,
    /// Every user (and anonymous callers, when the registry allows anonymous pulls) may pull (default false).
    #[serde(default)]
    public: bool,
    /// Serve names whose namespace is no account from this cache, as a transparent mirror (default false).
    #[serde(default)]
    mirrors_unqualified: bool,
}

fn five_minutes() -> u64 {
    300
}

fn cache_model(namespace: &str, c: &CacheNamespace) -> model::PullThroughCache {
    model::PullThroughCache {
        namespace: namespace.to_owned(),
        upstream: c.upstream.clone(),
        username: c.username.clone(),
        has_password: c.sealed_password.is_some(),
        remote_ca: c.remote_ca.clone(),
        ttl_secs: c.ttl_secs,
        public: c.public,
        mirrors_unqualified: c.mirrors_unqualified,
        created_by: c.created_by.clone(),
        created_at: c.created_at,
    }
}

fn no_cache() -> ApiV0Error {
    ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_CACHE", "the namespace is not a pull-through cache")
}

#[utoipa::path(get, path = "/api/v0/pullThroughCaches", tag = "cache", responses((status = 200, description = "every pull-through cache namespace", body = [model::PullThroughCache]), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists the pull-through cache namespaces (system admins).
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    let caches: Vec<model::PullThroughCache> = app.registry.cache_namespaces().await?.iter().map(|(ns, c)| cache_model(ns, c)).collect();
    Ok(Json(caches).into_response())
}

#[utoipa::path(get, path = "/api/v0/repositoryNamespaces/{ns}/pullThroughCache", tag = "cache", params(("ns" = String, Path, description = "namespace")), responses((status = 200, description = "the namespace's cache settings", body = model::PullThroughCache), (status = 404, description = "NO_SUCH_CACHE", body = model::ErrorBody)))]
/// A namespace's pull-through cache settings (system admins).
pub async fn get(State(app): State<AppState>, caller: Caller, Path(ns): Path<String>) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    let cache = app.registry.cache_namespace(&ns).await?.ok_or_else(no_cache)?;
    Ok(Json(cache_model(&ns, &cache)).into_response())
}

#[utoipa::path(put, path = "/api/v0/repositoryNamespaces/{ns}/pullThroughCache", tag = "cache", params(("ns" = String, Path, description = "namespace (an organization)")), request_body = PullThroughCacheBody, responses((status = 200, description = "the namespace's cache settings", body = model::PullThroughCache), (status = 400, description = "INVALID_INPUT: a user's namespace, an upstream or CA that does not hold, a second transparent mirror", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Makes an organization a pull-through cache of an upstream registry, or changes its settings (system admins).
pub async fn put(
    State(app): State<AppState>,
    caller: Caller,
    Path(ns): Path<String>,
    Json(body): Json<PullThroughCacheBody>,
) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    let (username, password) = body.upstream_credentials.map_or((None, None), |c| (Some(c.username), c.password));
    let new = NewCache {
        upstream: body.upstream,
        username,
        password,
        remote_ca: body.remote_ca,
        ttl_secs: body.ttl_secs,
        public: body.public,
        mirrors_unqualified: body.mirrors_unqualified,
    };
    let by = caller.0.name().unwrap_or_default().to_owned();
    let cache = app.pull_through.set(&app.registry, &ns, Some(new), &by).await?.ok_or_else(no_cache)?;
    Ok(Json(cache_model(&ns, &cache)).into_response())
}

#[utoipa::path(delete, path = "/api/v0/repositoryNamespaces/{ns}/pullThroughCache", tag = "cache", params(("ns" = String, Path, description = "namespace")), responses((status = 204, description = "a plain namespace again (what it cached stays)"), (status = 404, description = "NO_SUCH_ACCOUNT: not a cache", body = model::ErrorBody)))]
/// Makes a pull-through cache namespace a plain one again; what it cached stays (system admins).
pub async fn delete(State(app): State<AppState>, caller: Caller, Path(ns): Path<String>) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    app.pull_through.set(&app.registry, &ns, None, "").await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
