//! `/api/v0`: the management API, in DTR's paths and shapes. Errors use the same
//! envelope as the registry, with DTR's codes (`NOT_AUTHENTICATED`, `NO_SUCH_ACCOUNT`, …).
//! Authentication is Basic (password or access token) or a Bearer token.

mod accounts;
mod ldap;
mod openapi;
mod pages;
mod repositories;
pub mod signing;
mod tags;
mod tokens;

use axum::Router;
use axum::extract::{Extension, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use berth_auth::Subject;
use berth_meta::{Applied, Command, Rejection};
use serde_json::json;

use super::auth::{self, Https};
use crate::app::AppState;

/// The routes, mounted under `/api/v0` (accounts also under `/enzi/v0`, where DTR kept them).
pub fn routes() -> Router<AppState> {
    let accounts = Router::new()
        .route("/accounts", post(accounts::create).get(accounts::list))
        .route("/accounts/{name}", get(accounts::get).patch(accounts::update).delete(accounts::delete))
        .route("/accounts/{org}/teams", post(accounts::create_team).get(accounts::list_teams))
        .route("/accounts/{org}/teams/{team}/members", get(accounts::list_members))
        .route("/accounts/{org}/teams/{team}/memberSyncConfig", get(ldap::get_team_sync).put(ldap::put_team_sync))
        .route("/accounts/{org}/teams/{team}/members/{user}", put(accounts::add_member).delete(accounts::remove_member))
        .route("/accounts/{user}/tokens", post(tokens::create).get(tokens::list))
        .route("/accounts/{user}/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/accounts/{user}/repositoryAccess/{ns}/{repo}", get(repositories::user_access));
    let api = accounts
        .clone()
        .route("/openapi.json", get(openapi::document))
        .route("/ldap/sync", post(ldap::run_sync).get(ldap::last_sync))
        .route("/repositories", get(repositories::list))
        .route("/repositories/{ns}", post(repositories::create).get(repositories::list_namespace))
        .route("/repositories/{ns}/{repo}", get(repositories::get).patch(repositories::update).delete(repositories::delete))
        .route("/repositoryNamespaces/{ns}/signingPolicy", get(signing::get).put(signing::put))
        .route("/repositories/{ns}/{repo}/tags", get(tags::list))
        .route("/repositories/{ns}/{repo}/tags/{tag}", get(tags::get).delete(tags::delete))
        .route("/repositories/{ns}/{repo}/tags/{tag}/trust", get(tags::trust))
        .route("/repositories/{ns}/{repo}/teamAccess", get(repositories::list_team_access))
        .route("/repositories/{ns}/{repo}/teamAccess/{team}", put(repositories::grant_team).delete(repositories::revoke_team))
        .route("/repositoryNamespaces/{ns}/teamAccess/{team}", put(repositories::grant_namespace).delete(repositories::revoke_namespace));
    Router::new().nest("/api/v0", api).nest("/enzi/v0", accounts)
}

/// An `/api/v0` error.
pub struct ApiV0Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiV0Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiV0Error {
        ApiV0Error { status, code, message: message.into() }
    }

    fn forbidden() -> ApiV0Error {
        ApiV0Error::new(StatusCode::FORBIDDEN, "NOT_AUTHORIZED", "you are not authorized to do this")
    }

    fn invalid(message: impl Into<String>) -> ApiV0Error {
        ApiV0Error::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", message)
    }

    fn internal(e: &dyn std::fmt::Display) -> ApiV0Error {
        tracing::error!(error = %e, "internal error");
        ApiV0Error::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "internal server error; see the server log for this request id")
    }
}

impl IntoResponse for ApiV0Error {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{"code": self.code, "message": self.message, "detail": {}}]});
        (self.status, [(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

/// The authenticated caller of an `/api/v0` request; anonymous callers are refused.
pub struct Caller(pub Subject);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiV0Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let https = Extension::<Https>::from_request_parts(parts, app).await.map(|e| e.0).unwrap_or(Https(true));
        let not_authenticated = || ApiV0Error::new(StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED", "authentication required");
        let caller = match auth::identify(app, &parts.headers, auth::source(&parts.extensions), https).await {
            Ok(caller) => caller,
            Err(e) if e.status() == StatusCode::TOO_MANY_REQUESTS => {
                return Err(ApiV0Error::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "too many failed login attempts; try again later"));
            }
            Err(_) => return Err(not_authenticated()),
        };
        match auth::subject(app, &caller).await {
            Ok(Subject::Anonymous) | Err(_) => Err(not_authenticated()),
            Ok(subject) => Ok(Caller(subject)),
        }
    }
}

impl Caller {
    fn is_admin(&self) -> bool {
        matches!(self.0, Subject::User { admin: true, .. })
    }

    fn is(&self, user: &str) -> bool {
        self.0.name() == Some(user)
    }

    /// System admins, and owners of `org`.
    fn owns_org(&self, org: &str) -> bool {
        self.is_admin() || matches!(&self.0, Subject::User { teams, .. } if teams.iter().any(|(o, t)| o == org && t == berth_auth::policy::OWNERS))
    }
}

/// Applies a command, mapping refusals to DTR's error codes.
async fn apply(app: &AppState, command: Command) -> Result<(), ApiV0Error> {
    match app.registry.meta().apply(command).await.map_err(|e| ApiV0Error::internal(&e))? {
        Applied::Done => Ok(()),
        Applied::Rejected(rejection) => Err(match rejection {
            Rejection::AccountExists => ApiV0Error::new(StatusCode::CONFLICT, "ACCOUNT_EXISTS", "an account with this name exists"),
            Rejection::AccountUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_ACCOUNT", "no such account"),
            Rejection::NotAnOrganization => ApiV0Error::invalid("the account is not an organization"),
            Rejection::TeamExists => ApiV0Error::new(StatusCode::CONFLICT, "TEAM_EXISTS", "a team with this name exists"),
            Rejection::TeamUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TEAM", "no such team"),
            Rejection::RepositoryExists => ApiV0Error::new(StatusCode::CONFLICT, "REPOSITORY_EXISTS", "the repository exists"),
            Rejection::RepositoryUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY", "no such repository"),
            Rejection::TokenUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TOKEN", "no such access token"),
            other => ApiV0Error::invalid(format!("{other:?}")),
        }),
    }
}

/// Checks an account or team name: one repository-name component.
fn valid_name(name: &str) -> Result<(), ApiV0Error> {
    if !name.contains('/') && name.parse::<berth_core::RepositoryName>().is_ok() {
        Ok(())
    } else {
        Err(ApiV0Error::invalid(format!("{name:?} is not a valid name: use lower-case letters, digits and separators")))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
