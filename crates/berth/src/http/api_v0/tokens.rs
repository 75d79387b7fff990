//! Access tokens: created (the secret shown once), listed with their last use, revoked.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::{AccessToken, Action};
use serde::Deserialize;

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// `POST /api/v0/accounts/{user}/tokens` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    name: String,
    /// Seconds since the epoch; in the future.
    #[serde(default)]
    expires_at: Option<u64>,
    /// Limit to these repositories.
    #[serde(default)]
    repositories: Vec<String>,
    /// Limit to these actions (`pull`, `push`, `delete`).
    #[serde(default)]
    actions: Vec<String>,
}

fn token_model(id: &str, t: &AccessToken) -> model::Token {
    model::Token {
        id: id.to_owned(),
        name: t.name.clone(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used: t.last_used,
        repositories: t.repositories.clone(),
        // Tokens never carry `admin` (refused at creation), whose scope word is `*`.
        actions: t.actions.iter().map(|a| a.scope_word().to_owned()).collect(),
        token: None,
    }
}

#[utoipa::path(post, path = "/api/v0/accounts/{user}/tokens", tag = "tokens", params(("user" = String, Path, description = "user")), request_body = NewToken, responses((status = 201, description = "the token, with its secret shown once", body = model::Token), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Creates a token for `user` (the user themself, or a system admin, with a password or an
/// unrestricted token: a restricted token cannot make another).
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    Json(new): Json<NewToken>,
) -> Result<Response, ApiV0Error> {
    let mut actions = Vec::new();
    for word in &new.actions {
        match Action::from_scope_word(word).filter(|a| *a != Action::Admin) {
            Some(action) => actions.push(action),
            None => return Err(ApiV0Error::invalid(format!("action {word:?}: use pull, push or delete"))),
        }
    }
    let mut repositories = Vec::new();
    for name in &new.repositories {
        repositories.push(name.parse().map_err(|_| ApiV0Error::invalid(format!("repository {name:?} is not a valid name")))?);
    }
    let spec = berth_auth::NewToken { name: new.name, expires_at: new.expires_at, repositories, actions };
    let created = app.auth.create_token(&caller.0, &user, spec).await?;
    let mut body = token_model(&created.id, &created.record);
    body.token = Some(created.text);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{user}/tokens", tag = "tokens", params(("user" = String, Path, description = "user")), responses((status = 200, description = "the tokens (without secrets)", body = model::TokenList), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists a user's tokens (never their secrets).
pub async fn list(State(app): State<AppState>, caller: Caller, Path(user): Path<String>) -> Result<Response, ApiV0Error> {
    let tokens = app.auth.tokens(&caller.0, &user).await?;
    Ok(Json(model::TokenList { tokens: tokens.iter().map(|(id, t)| token_model(id, t)).collect() }).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{user}/tokens/{id}", tag = "tokens", params(("user" = String, Path, description = "user"), ("id" = String, Path, description = "token id")), responses((status = 204, description = "revoked"), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Revokes a token; it and every token obtained with it stop working at once.
pub async fn revoke(State(app): State<AppState>, caller: Caller, Path((user, id)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    app.auth.revoke_token(&caller.0, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
