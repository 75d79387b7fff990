//! `/api/v0`: the management API, in DTR's paths and shapes. Errors use the same
//! envelope as the registry, with DTR's codes (`NOT_AUTHENTICATED`, `NO_SUCH_ACCOUNT`, …).
//! Authentication is Basic (password or access token) or a Bearer token.

mod accounts;
mod cache;
mod cluster;
mod docs_page;
mod events;
mod gc;
mod ldap;
mod mirroring;
pub mod model;
mod openapi;
mod pages;
mod promotion;
mod pruning;
mod quotas;
mod repositories;
pub mod signing;
mod tags;
mod tokens;
mod webhooks;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use berth_auth::Subject;

use super::auth;
pub use super::error::ApiV0Error;
use crate::app::AppState;

/// The routes, mounted under `/api/v0` (accounts also under `/enzi/v0`, where DTR kept them).
pub fn routes() -> Router<AppState> {
    let accounts = Router::new()
        .route("/accounts", post(accounts::create).get(accounts::list))
        .route("/accounts/{name}", get(accounts::get).patch(accounts::update).delete(accounts::delete))
        .route("/accounts/{org}/teams", post(accounts::create_team).get(accounts::list_teams))
        .route("/accounts/{org}/teams/{team}", get(accounts::get_team).delete(accounts::delete_team))
        .route("/accounts/{org}/teams/{team}/members", get(accounts::list_members))
        .route("/accounts/{org}/teams/{team}/memberSyncConfig", get(ldap::get_team_sync).put(ldap::put_team_sync))
        .route("/accounts/{org}/teams/{team}/members/{user}", put(accounts::add_member).delete(accounts::remove_member))
        .route("/accounts/{user}/tokens", post(tokens::create).get(tokens::list))
        .route("/accounts/{namespace}/quota", get(quotas::get).put(quotas::put))
        .route("/accounts/{user}/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/accounts/{user}/repositoryAccess/{ns}/{repo}", get(repositories::user_access));
    let api = accounts
        .clone()
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::page))
        .route("/ldap/sync", post(ldap::run_sync).get(ldap::last_sync))
        .route("/gc", post(gc::start).get(gc::status))
        .route("/meta/cluster_status", get(cluster::status))
        .route("/meta/join_tokens", post(cluster::join_token))
        .route("/meta/replicas/{id}", axum::routing::delete(cluster::remove_replica))
        .route("/meta/backup", get(cluster::backup))
        .route("/events", get(events::list))
        .route("/events/export", get(events::export))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/webhooks/{id}", get(webhooks::get).patch(webhooks::update).delete(webhooks::delete))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/deliveries/{delivery}/redeliver", post(webhooks::redeliver))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/repositories", get(repositories::list))
        .route("/repositories/{ns}", post(repositories::create).get(repositories::list_namespace))
        .route("/repositories/{ns}/{repo}", get(repositories::get).patch(repositories::update).delete(repositories::delete))
        .route("/repositoryNamespaces/{ns}/signingPolicy", get(signing::get).put(signing::put))
        .route("/repositoryNamespaces/{ns}/pullThroughCache", get(cache::get).put(cache::put).delete(cache::delete))
        .route("/pullThroughCaches", get(cache::list))
        .route("/repositories/{ns}/{repo}/pruningPolicies", get(pruning::list).post(pruning::create))
        .route("/repositories/{ns}/{repo}/pruningPolicies/{id}", get(pruning::get).put(pruning::update).delete(pruning::delete))
        .route("/repositories/{ns}/{repo}/pruningPolicies/{id}/run", post(pruning::run))
        .route("/repositories/{ns}/{repo}/promotionPolicies", get(promotion::list).post(promotion::create))
        .route("/repositories/{ns}/{repo}/promotionPolicies/{id}", get(promotion::get).put(promotion::update).delete(promotion::delete))
        .route("/repositories/{ns}/{repo}/pushMirroringPolicies", get(mirroring::list_push).post(mirroring::create_push))
        .route(
            "/repositories/{ns}/{repo}/pushMirroringPolicies/{id}",
            get(mirroring::get_push).put(mirroring::update_push).delete(mirroring::delete_push),
        )
        .route("/repositories/{ns}/{repo}/pollMirroringPolicies", get(mirroring::list_poll).post(mirroring::create_poll))
        .route(
            "/repositories/{ns}/{repo}/pollMirroringPolicies/{id}",
            get(mirroring::get_poll).put(mirroring::update_poll).delete(mirroring::delete_poll),
        )
        .route("/repositories/{ns}/{repo}/tags", get(tags::list))
        .route("/repositories/{ns}/{repo}/tags/{tag}", get(tags::get).delete(tags::delete))
        .route("/repositories/{ns}/{repo}/tags/{tag}/trust", get(tags::trust))
        .route("/repositories/{ns}/{repo}/teamAccess", get(repositories::list_team_access))
        .route("/repositories/{ns}/{repo}/teamAccess/{team}", put(repositories::grant_team).delete(repositories::revoke_team))
        .route("/repositoryNamespaces/{ns}/teamAccess", get(repositories::list_namespace_access))
        .route("/repositoryNamespaces/{ns}/teamAccess/{team}", put(repositories::grant_namespace).delete(repositories::revoke_namespace));
    Router::new().nest("/api/v0", with_fallbacks(api, "/api/v0")).nest("/enzi/v0", with_fallbacks(accounts, "/enzi/v0"))
}

/// Paths under `prefix` that name no operation, or a method an operation does not take,
/// answer the JSON error envelope like every other API answer.
fn with_fallbacks(router: Router<AppState>, prefix: &'static str) -> Router<AppState> {
    router
        .fallback(move |method: axum::http::Method, uri: axum::http::Uri| async move {
            let message = format!("no such API operation: {method} {prefix}{}", uri.path());
            ApiV0Error::new(axum::http::StatusCode::NOT_FOUND, "NOT_FOUND", message)
        })
        .method_not_allowed_fallback(move |method: axum::http::Method, uri: axum::http::Uri| async move {
            let message = format!("{prefix}{} does not take {method}", uri.path());
            ApiV0Error::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", message)
        })
}

/// The authenticated caller of an `/api/v0` request; anonymous callers are refused. Every
/// credential is accepted here, and each operation then asks the policy: management needs
/// the password or an unrestricted access token; a restricted access token or a bearer
/// token reaches only the repositories and actions it names.
pub struct Caller(pub Subject);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiV0Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let subject = auth::authenticate(app, &parts.headers, &parts.extensions).await?;
        if subject.user.is_none() {
            return Err(ApiV0Error::not_authenticated());
        }
        Ok(Caller(subject))
    }
}

/// Checks an account or team name: one repository-name component no client reads as a host.
fn valid_name(name: &str) -> Result<(), ApiV0Error> {
    berth_core::check_account_name(name).map_err(|e| ApiV0Error::invalid(e.to_string()))
}
