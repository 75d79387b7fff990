//! Access tokens: created (the secret shown once), listed with their last use, revoked.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::access_token;
use berth_meta::command::{CreateAccessToken, RevokeAccessToken};
use berth_meta::{AccessToken, Command};
use serde::Deserialize;
use serde_json::json;

use super::{ApiV0Error, Caller, apply, now};
use crate::app::AppState;

/// `POST /api/v0/accounts/{user}/tokens` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    name: String,
    /// Seconds since the epoch.
    #[serde(default)]
    expires_at: Option<u64>,
    /// Limit to these repositories.
    #[serde(default)]
    repositories: Vec<String>,
    /// Limit to these actions (`pull`, `push`, `delete`).
    #[serde(default)]
    actions: Vec<String>,
}

fn token_json(id: &str, t: &AccessToken) -> serde_json::Value {
    json!({"id": id, "name": t.name, "createdAt": t.created_at, "expiresAt": t.expires_at, "lastUsed": t.last_used, "repositories": t.repositories, "actions": t.actions})
}

#[utoipa::path(post, path = "/api/v0/accounts/{user}/tokens", tag = "tokens", params(("user" = String, Path, description = "user")), request_body = NewToken, responses((status = 201, description = "the token, with its secret shown once"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Creates a token for `user` (the user themself, or a system admin).
pub async fn create(State(app): State<AppState>, caller: Caller, Path(user): Path<String>, Json(new): Json<NewToken>) -> Result<Response, ApiV0Error> {
    if !(caller.is(&user) || caller.is_admin()) {
        return Err(ApiV0Error::forbidden());
    }
    if let Some(bad) = new.actions.iter().find(|a| !["pull", "push", "delete"].contains(&a.as_str())) {
        return Err(ApiV0Error::invalid(format!("action {bad:?}: use pull, push or delete")));
    }
    if let Some(bad) = new.repositories.iter().find(|r| r.parse::<berth_core::RepositoryName>().is_err()) {
        return Err(ApiV0Error::invalid(format!("repository {bad:?} is not a valid name")));
    }
    let generated = access_token::generate();
    let token = AccessToken {
        user,
        name: new.name,
        secret_sha256: generated.secret_sha256,
        created_at: now(),
        expires_at: new.expires_at,
        last_used: None,
        repositories: new.repositories,
        actions: new.actions,
    };
    let mut body = token_json(&generated.id, &token);
    body["token"] = generated.text.into();
    apply(&app, Command::CreateAccessToken(CreateAccessToken { id: generated.id, token })).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{user}/tokens", tag = "tokens", params(("user" = String, Path, description = "user")), responses((status = 200, description = "the tokens (without secrets)"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Lists a user's tokens (never their secrets).
pub async fn list(State(app): State<AppState>, caller: Caller, Path(user): Path<String>) -> Result<Response, ApiV0Error> {
    if !(caller.is(&user) || caller.is_admin()) {
        return Err(ApiV0Error::forbidden());
    }
    let tokens = app.registry.meta().read(move |r| r.access_tokens(&user)).await.map_err(|e| ApiV0Error::internal(&e))?;
    Ok(Json(json!({"tokens": tokens.iter().map(|(id, t)| token_json(id, t)).collect::<Vec<_>>()})).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{user}/tokens/{id}", tag = "tokens", params(("user" = String, Path, description = "user"), ("id" = String, Path, description = "token id")), responses((status = 204, description = "revoked"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Revokes a token.
pub async fn revoke(State(app): State<AppState>, caller: Caller, Path((user, id)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    if !(caller.is(&user) || caller.is_admin()) {
        return Err(ApiV0Error::forbidden());
    }
    let key = id.clone();
    let owned = app.registry.meta().read(move |r| r.access_token(&key)).await.map_err(|e| ApiV0Error::internal(&e))?;
    if owned.is_none_or(|t| t.user != user) {
        return Err(ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TOKEN", "no such access token"));
    }
    apply(&app, Command::RevokeAccessToken(RevokeAccessToken { id })).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
