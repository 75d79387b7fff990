//! Accounts (users and organizations), teams and members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_meta::command::{CreateAccount, CreateTeam, DeleteAccount, SetTeamMember, UpdateAccount};
use berth_meta::{Account, AccountKind, Command, Team};
use serde::Deserialize;
use serde_json::json;

use super::{ApiV0Error, Caller, apply, now, valid_name};
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
}

fn yes() -> bool {
    true
}

fn account_json(name: &str, a: &Account) -> serde_json::Value {
    json!({"name": name, "fullName": a.full_name, "email": a.email, "isOrg": a.kind == AccountKind::Org, "isAdmin": a.admin, "isActive": a.active})
}

#[utoipa::path(post, path = "/api/v0/accounts", tag = "accounts", request_body = NewAccount, responses((status = 201, description = "the account"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Creates a user or an organization (system admins).
pub async fn create(State(app): State<AppState>, caller: Caller, Json(new): Json<NewAccount>) -> Result<Response, ApiV0Error> {
    if !caller.is_admin() {
        return Err(ApiV0Error::forbidden());
    }
    valid_name(&new.name)?;
    let password_hash = match (&new.password, new.is_org) {
        (_, true) => None,
        (Some(p), false) if !p.is_empty() => Some(berth_auth::password::hash(p.clone()).await.map_err(|_| ApiV0Error::invalid("the password is too long"))?),
        _ => return Err(ApiV0Error::invalid("a user needs a password")),
    };
    let account = Account {
        kind: if new.is_org { AccountKind::Org } else { AccountKind::User },
        full_name: new.full_name,
        email: new.email,
        password_hash,
        active: new.is_active,
        admin: new.is_admin && !new.is_org,
        ldap_dn: None,
        created_at: now(),
    };
    let body = account_json(&new.name, &account);
    apply(&app, Command::CreateAccount(CreateAccount { name: new.name, account })).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts", tag = "accounts", params(("start" = Option<String>, Query, description = "list after this name"), ("limit" = Option<usize>, Query, description = "page size (default 100, at most 1000)")), responses((status = 200, description = "a page of accounts"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Lists accounts, paged.
pub async fn list(State(app): State<AppState>, _caller: Caller, uri: axum::http::Uri) -> Result<Response, ApiV0Error> {
    let page = super::pages::PageQuery::parse(uri.query())?;
    let accounts = app
        .registry
        .meta()
        .read(|r| {
            let names = r.accounts(&berth_meta::Page::default())?.items;
            names.into_iter().map(|n| Ok((r.account(&n)?, n))).collect::<Result<Vec<_>, berth_meta::Error>>()
        })
        .await
        .map_err(|e| ApiV0Error::internal(&e))?;
    let names: Vec<String> = accounts.iter().map(|(_, n)| n.clone()).collect();
    let by_name: std::collections::HashMap<&str, &Account> = accounts.iter().filter_map(|(a, n)| a.as_ref().map(|a| (n.as_str(), a))).collect();
    Ok(page.respond("/api/v0/accounts", "accounts", &names, |name| by_name.get(name).map_or(json!({"name": name}), |a| account_json(name, a))))
}

#[utoipa::path(get, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), responses((status = 200, description = "the account"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Reads an account.
pub async fn get(State(app): State<AppState>, _caller: Caller, Path(name): Path<String>) -> Result<Response, ApiV0Error> {
    let key = name.clone();
    let account = app.registry.meta().read(move |r| r.account(&key)).await.map_err(|e| ApiV0Error::internal(&e))?;
    let account = account.ok_or_else(|| ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_ACCOUNT", "no such account"))?;
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
/// Changes an account: the user themself (name, e-mail, password), or a system admin (anything).
pub async fn update(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, Json(changes): Json<AccountChanges>) -> Result<Response, ApiV0Error> {
    let privileged = changes.is_active.is_some() || changes.is_admin.is_some();
    if !(caller.is_admin() || (caller.is(&name) && !privileged)) {
        return Err(ApiV0Error::forbidden());
    }
    let password_hash = match changes.password {
        Some(p) if !p.is_empty() => Some(berth_auth::password::hash(p).await.map_err(|_| ApiV0Error::invalid("the password is too long"))?),
        _ => None,
    };
    let command = UpdateAccount {
        name: name.clone(),
        full_name: changes.full_name,
        email: changes.email,
        password_hash,
        active: changes.is_active,
        admin: changes.is_admin,
        ldap_dn: None,
    };
    apply(&app, Command::UpdateAccount(command)).await?;
    get(State(app), caller, Path(name)).await
}

#[utoipa::path(delete, path = "/api/v0/accounts/{name}", tag = "accounts", params(("name" = String, Path, description = "account name")), responses((status = 204, description = "deleted"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Deletes an account (system admins).
pub async fn delete(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiV0Error> {
    if !caller.is_admin() || name == "admin" {
        return Err(ApiV0Error::forbidden());
    }
    apply(&app, Command::DeleteAccount(DeleteAccount { name })).await?;
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
pub async fn create_team(State(app): State<AppState>, caller: Caller, Path(org): Path<String>, Json(new): Json<NewTeam>) -> Result<Response, ApiV0Error> {
    if !caller.owns_org(&org) {
        return Err(ApiV0Error::forbidden());
    }
    valid_name(&new.name)?;
    let body = json!({"name": new.name, "description": new.description, "orgName": org});
    let record = Team { description: new.description, created_at: now(), ldap_sync: None };
    apply(&app, Command::CreateTeam(CreateTeam { org, team: new.name, record })).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams", tag = "teams", params(("org" = String, Path, description = "organization")), responses((status = 200, description = "the teams"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Lists an organization's teams.
pub async fn list_teams(State(app): State<AppState>, _caller: Caller, Path(org): Path<String>) -> Result<Response, ApiV0Error> {
    let teams = app.registry.meta().read(move |r| r.teams(&org)).await.map_err(|e| ApiV0Error::internal(&e))?;
    Ok(Json(json!({"teams": teams.iter().map(|t| json!({"name": t})).collect::<Vec<_>>()})).into_response())
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams/{team}/members", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 200, description = "the members"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Lists a team's members.
pub async fn list_members(State(app): State<AppState>, _caller: Caller, Path((org, team)): Path<(String, String)>) -> Result<Response, ApiV0Error> {
    let members = app.registry.meta().read(move |r| r.team_members(&org, &team)).await.map_err(|e| ApiV0Error::internal(&e))?;
    Ok(Json(json!({"members": members.iter().map(|m| json!({"member": {"name": m}})).collect::<Vec<_>>()})).into_response())
}

async fn set_member(app: AppState, caller: Caller, org: String, team: String, user: String, member: bool) -> Result<Response, ApiV0Error> {
    if !caller.owns_org(&org) {
        return Err(ApiV0Error::forbidden());
    }
    apply(&app, Command::SetTeamMember(SetTeamMember { org, team, user, member })).await?;
    Ok(Json(json!({})).into_response())
}

#[utoipa::path(put, path = "/api/v0/accounts/{org}/teams/{team}/members/{user}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team"), ("user" = String, Path, description = "user")), responses((status = 200, description = "added"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Adds a member.
pub async fn add_member(State(app): State<AppState>, caller: Caller, Path((org, team, user)): Path<(String, String, String)>) -> Result<Response, ApiV0Error> {
    set_member(app, caller, org, team, user, true).await
}

#[utoipa::path(delete, path = "/api/v0/accounts/{org}/teams/{team}/members/{user}", tag = "teams", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team"), ("user" = String, Path, description = "user")), responses((status = 200, description = "removed"), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Removes a member.
pub async fn remove_member(State(app): State<AppState>, caller: Caller, Path((org, team, user)): Path<(String, String, String)>) -> Result<Response, ApiV0Error> {
    set_member(app, caller, org, team, user, false).await
}
