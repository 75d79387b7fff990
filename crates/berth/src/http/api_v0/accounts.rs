//! Accounts (users and organizations), teams and members. Each handler parses, calls one
//! method of the auth service (which holds the rules), and renders DTR's shapes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::{Account, AccountKind};
use serde::Deserialize;

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// `POST /api/v0/accounts` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount {
    name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    is_org: bool,
    #[serde(default)]
    is_admin: bool,
    #[serde(default = "yes")]
    is_active: bool,
    /// Take over repositories already in the namespace (otherwise refused with
    /// `NAMESPACE_IN_USE`).
    #[serde(default)]
    adopt_repositories: bool,
}

fn yes() -> bool {
    true
}

fn account_model(name: &str, a: &Account) -> model::Account {
    model::Account {
        name: name.to_owned(),
        full_name: a.full_name.clone(),
        email: a.email.clone(),
        is_org: a.kind == AccountKind::Org,
        is_admin: a.admin,
        is_active: a.active,
    }
}

#[utoipa::path(post, path = "/api/v0/accounts", tag = "accounts", request_body = NewAccount, responses((status = 201, description = "the account", body = model::Account), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 409, description = "ACCOUNT_EXISTS or NAMESPACE_IN_USE", body = model::ErrorBody)))]
/// Creates a user or an organization (system admins, with their password or an unrestricted token).
pub async fn create(State(app): State<AppState>, caller: Caller, Json(new): Json<NewAccount>) -> Result<Response, ApiV0Error> {
    let name = new.name.clone();
    let new = berth_auth::NewAccount {
        name: new.name,
        password: new.password.filter(|p| !p.is_empty()),
        full_name: new.full_name,
        email: new.email,
        is_org: new.is_org,
        is_admin: new.is_admin,
        is_active: new.is_active,
        adopt_repositories: new.adopt_repositories,
    };
    let account = app.auth.create_account(&caller.0, new).await?;
    Ok((StatusCode::CREATED, Json(account_model(&name, &account))).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts", tag = "accounts", params(("start" = Option<String>, Query, description = "list after this name"), ("limit" = Option<usize>, Query, description = "page size (default 100, at most 1000)")), responses((status = 200, description = "a page of accounts", body = model::AccountPage), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists accounts, paged.
pub async fn list(State(app): State<AppState>, caller: Caller, uri: axum::http::Uri) -> Result<Response, ApiV0Error> {
    let page = super::pages::PageQuery::parse(uri.query())?;
    let accounts = app.auth.accounts(&caller.0).await?;
    let names: Vec<String> = accounts.iter().map(|(n, _)| n.clone()).collect();
    let by_name: std::collections::HashMap<&str, &Account> = accounts.iter().map(|(n, a)| (n.as_str(), a)).collect();
    Ok(page.respond("/api/v0/accounts", &names, |page| model::AccountPage {
        accounts: page.iter().filter_map(|name| by_name.get(name.as_str()).map(|a| account_model(name, a))).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), responses((status = 200, description = "the account", body = model::Account), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 404, description = "NO_SUCH_ACCOUNT", body = model::ErrorBody)))]
/// Reads an account.
pub async fn get(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiV0Error> {
    let account = app.auth.account(&caller.0, &name).await?;
    Ok(Json(account_model(&name, &account)).into_response())
}

/// `PATCH /api/v0/accounts/{name}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountChanges {
    full_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    is_active: Option<bool>,
    is_admin: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), request_body = AccountChanges, responses((status = 200, description = "the account", body = model::Account), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Changes an account: the user themself (name, e-mail, password), or a system admin
/// (anything), with a password or an unrestricted token. A new password or a
/// deactivation ends every credential derived from the old state at once.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(changes): Json<AccountChanges>,
) -> Result<Response, ApiV0Error> {
    let changes = berth_auth::AccountChanges {
        full_name: changes.full_name,
        email: changes.email,
        password: changes.password.filter(|p| !p.is_empty()),
        is_active: changes.is_active,
        is_admin: changes.is_admin,
    };
    let account = app.auth.update_account(&caller.0, &name, changes).await?;
    Ok(Json(account_model(&name, &account)).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), responses((status = 204, description = "deleted"), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 409, description = "NAMESPACE_IN_USE or LAST_ADMINISTRATOR", body = model::ErrorBody)))]
/// Deletes an account (system admins); refused while repositories live in its namespace.
pub async fn delete(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiV0Error> {
    app.auth.delete_account(&caller.0, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v0/accounts/{org}/teams` body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTeam {
    name: String,
    #[serde(default)]
    description: String,
}

#[utoipa::path(post, path = "/api/v0/accounts/{org}/teams", tag = "teams", params(("org" = String, Path, description = "organization")), request_body = NewTeam, responses((status = 201, description = "the team", body = model::Team), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Creates a team (org owners, system admins).
pub async fn create_team(
    State(app): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Json(new): Json<NewTeam>,
) -> Result<Response, ApiV0Error> {
    let team = app.auth.create_team(&caller.0, &org, &new.name, new.description).await?;
    let body = model::Team { name: new.name, description: team.description, org_name: org, created_at: team.created_at };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams", tag = "teams", params(("org" = String, Path, description = "organization")), responses((status = 200, description = "the teams", body = model::TeamList), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists an organization's teams.
pub async fn list_teams(State(app): State<AppState>, caller: Caller, Path(org): Path<String>) -> Result<Response, ApiV0Error> {
    let teams = app.auth.teams(&caller.0, &org).await?;
    Ok(Json(model::TeamList { teams: teams.into_iter().map(|name| model::Named { name }).collect() }).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams/{team}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 200, description = "the team", body = model::Team), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 404, description = "NO_SUCH_TEAM", body = model::ErrorBody)))]
/// Reads a team.
pub async fn get_team(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    let found = app.auth.team(&caller.0, &org, &team).await?;
    Ok(Json(model::Team { name: team, description: found.description, org_name: org, created_at: found.created_at }).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{org}/teams/{team}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 204, description = "deleted, with its memberships and grants"), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 404, description = "NO_SUCH_TEAM", body = model::ErrorBody), (status = 409, description = "OWNERS_TEAM", body = model::ErrorBody)))]
/// Deletes a team with its memberships and grants (the organization's owners).
pub async fn delete_team(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.delete_team(&caller.0, &org, &team).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams/{team}/members", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 200, description = "the members", body = model::MemberList), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Lists a team's members.
pub async fn list_members(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    let members = app.auth.team_members(&caller.0, &org, &team).await?;
    let members = members.into_iter().map(|name| model::Member { member: model::Named { name } }).collect();
    Ok(Json(model::MemberList { members }).into_response())
}

#[utoipa::path(put, path = "/api/v0/accounts/{org}/teams/{team}/members/{user}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team"), ("user" = String, Path, description = "user")), responses((status = 200, description = "added", body = model::Done), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Adds a member.
pub async fn add_member(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team, user)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.set_team_member(&caller.0, &org, &team, &user, true).await?;
    Ok(Json(model::Done {}).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{org}/teams/{team}/members/{user}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team"), ("user" = String, Path, description = "user")), responses((status = 200, description = "removed", body = model::Done), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Removes a member.
pub async fn remove_member(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team, user)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.set_team_member(&caller.0, &org, &team, &user, false).await?;
    Ok(Json(model::Done {}).into_response())
}
