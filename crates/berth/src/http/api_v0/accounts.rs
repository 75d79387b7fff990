//! Accounts (users and organizations), teams and members. Each handler parses, calls one
//! method of the auth service (which holds the rules), and renders DTR's shapes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::{Account, AccountKind};
use serde::Deserialize;
use serde_json::json;

use super::{ApiV0Error, Caller};
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

fn account_json(name: &str, a: &Account) -> serde_json::Value {
    json!({"name": name, "fullName": a.full_name, "email": a.email, "isOrg": a.kind == AccountKind::Org, "isAdmin": a.admin, "isActive": a.active})
}

#[utoipa::path(post, path = "/api/v0/accounts", tag = "accounts", request_body = NewAccount, responses((status = 201, description = "the account"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED"), (status = 409, description = "ACCOUNT_EXISTS or NAMESPACE_IN_USE")))]
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
    Ok((StatusCode::CREATED, Json(account_json(&name, &account))).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts", tag = "accounts", params(("start" = Option<String>, Query, description = "list after this name"), ("limit" = Option<usize>, Query, description = "page size (default 100, at most 1000)")), responses((status = 200, description = "a page of accounts"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Lists accounts, paged.
pub async fn list(State(app): State<AppState>, caller: Caller, uri: axum::http::Uri) -> Result<Response, ApiV0Error> {
    let page = super::pages::PageQuery::parse(uri.query())?;
    let accounts = app.auth.accounts(&caller.0).await?;
    let names: Vec<String> = accounts.iter().map(|(n, _)| n.clone()).collect();
    let by_name: std::collections::HashMap<&str, &Account> = accounts.iter().map(|(n, a)| (n.as_str(), a)).collect();
    Ok(page
        .respond("/api/v0/accounts", "accounts", &names, |name| by_name.get(name).map_or(json!({"name": name}), |a| account_json(name, a))))
}

#[utoipa::path(get, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), responses((status = 200, description = "the account"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Reads an account.
pub async fn get(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiV0Error> {
    let account = app.auth.account(&caller.0, &name).await?;
    Ok(Json(account_json(&name, &account)).into_response())
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

#[utoipa::path(patch, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), request_body = AccountChanges, responses((status = 200, description = "the account"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
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
    Ok(Json(account_json(&name, &account)).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), responses((status = 204, description = "deleted"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED"), (status = 409, description = "NAMESPACE_IN_USE or LAST_ADMINISTRATOR")))]
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

#[utoipa::path(post, path = "/api/v0/accounts/{org}/teams", tag = "teams", params(("org" = String, Path, description = "organization")), request_body = NewTeam, responses((status = 201, description = "the team"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Creates a team (org owners, system admins).
pub async fn create_team(
    State(app): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Json(new): Json<NewTeam>,
) -> Result<Response, ApiV0Error> {
    let team = app.auth.create_team(&caller.0, &org, &new.name, new.description).await?;
    Ok((StatusCode::CREATED, Json(json!({"name": new.name, "description": team.description, "orgName": org}))).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams", tag = "teams", params(("org" = String, Path, description = "organization")), responses((status = 200, description = "the teams"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Lists an organization's teams.
pub async fn list_teams(State(app): State<AppState>, caller: Caller, Path(org): Path<String>) -> Result<Response, ApiV0Error> {
    let teams = app.auth.teams(&caller.0, &org).await?;
    Ok(Json(json!({"teams": teams.iter().map(|t| json!({"name": t})).collect::<Vec<_>>()})).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams/{team}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 200, description = "the team"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED"), (status = 404, description = "NO_SUCH_TEAM")))]
/// Reads a team.
pub async fn get_team(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    let found = app.auth.team(&caller.0, &org, &team).await?;
    Ok(Json(json!({"name": team, "description": found.description, "orgName": org, "createdAt": found.created_at})).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{org}/teams/{team}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 204, description = "deleted, with its memberships and grants"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED"), (status = 404, description = "NO_SUCH_TEAM"), (status = 409, description = "OWNERS_TEAM")))]
/// Deletes a team with its memberships and grants (the organization's owners).
pub async fn delete_team(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.delete_team(&caller.0, &org, &team).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams/{team}/members", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 200, description = "the members"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Lists a team's members.
pub async fn list_members(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    let members = app.auth.team_members(&caller.0, &org, &team).await?;
    Ok(Json(json!({"members": members.iter().map(|m| json!({"member": {"name": m}})).collect::<Vec<_>>()})).into_response())
}

#[utoipa::path(put, path = "/api/v0/accounts/{org}/teams/{team}/members/{user}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team"), ("user" = String, Path, description = "user")), responses((status = 200, description = "added"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Adds a member.
pub async fn add_member(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team, user)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.set_team_member(&caller.0, &org, &team, &user, true).await?;
    Ok(Json(json!({})).into_response())
}

#[utoipa::path(delete, path = "/api/v0/accounts/{org}/teams/{team}/members/{user}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team"), ("user" = String, Path, description = "user")), responses((status = 200, description = "removed"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Removes a member.
pub async fn remove_member(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team, user)): Path<(String, String, String)>,
) -> Result<Response, ApiV0Error> {
    app.auth.set_team_member(&caller.0, &org, &team, &user, false).await?;
    Ok(Json(json!({})).into_response())
}
