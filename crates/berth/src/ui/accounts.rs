//! Organizations, teams and their members, namespace grants, users, and the viewer's
//! own access tokens.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_auth::{AccountChanges, AccountKind, Action, NewAccount, NewToken};
use serde::Deserialize;

use super::format::time;
use super::repositories::{GrantForm, NoticeQuery};
use super::{Chrome, UiError, Viewer, after_form, render};
use crate::app::AppState;

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsPage {
    chrome: Chrome,
    orgs: Vec<String>,
}

/// `GET /orgs`.
pub async fn orgs(State(app): State<AppState>, viewer: Viewer, Query(query): Query<NoticeQuery>) -> Result<Response, UiError> {
    let accounts = app.auth.accounts(&viewer.subject).await?;
    let orgs = accounts.into_iter().filter(|(_, a)| a.kind == AccountKind::Org).map(|(name, _)| name).collect();
    Ok(render(&OrgsPage { chrome: viewer.chrome().with_notice(query.notice.as_deref()), orgs }))
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

/// `POST /orgs` (system administrators).
pub async fn create_org(State(app): State<AppState>, viewer: Viewer, Form(form): Form<NameForm>) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let new = NewAccount {
        name: form.name.trim().to_owned(),
        password: None,
        full_name: String::new(),
        email: String::new(),
        is_org: true,
        is_admin: false,
        is_active: true,
        adopt_repositories: false,
    };
    app.auth.create_account(&viewer.subject, new).await?;
    Ok(after_form(&format!("/orgs/{}", form.name.trim()), "created"))
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    chrome: Chrome,
    org: String,
    teams: Vec<String>,
    owner: bool,
    grants: Vec<(String, String, String)>,
}

/// `GET /orgs/{org}`.
pub async fn org(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let account = app.auth.account(&viewer.subject, &org).await?;
    if account.kind != AccountKind::Org {
        return Err(UiError::not_found());
    }
    let teams = app.auth.teams(&viewer.subject, &org).await?;
    let owner = app.auth.owns_namespace(&viewer.subject, &org);
    let grants = if owner { app.auth.namespace_grants(&viewer.subject, &org).await? } else { Vec::new() };
    Ok(render(&OrgPage {
        chrome: viewer.chrome().with_notice(query.notice.as_deref()),
        grants: grants.into_iter().map(|(o, t, l)| (o, t, l.as_str().to_owned())).collect(),
        org,
        teams,
        owner,
    }))
}

/// `POST /orgs/{org}/teams` (the organization's owners).
pub async fn create_team(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
    Form(form): Form<NameForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let team = form.name.trim().to_owned();
    app.auth.create_team(&viewer.subject, &org, &team, String::new()).await?;
    Ok(after_form(&format!("/orgs/{org}/teams/{team}"), "created"))
}

/// `POST /orgs/{org}/access`: a team's access to every repository of the organization.
pub async fn grant_namespace(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
    Form(form): Form<GrantForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    app.auth.set_namespace_grant(&viewer.subject, &org, &form.team, form.level()?).await?;
    Ok(after_form(&format!("/orgs/{org}"), "granted"))
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    chrome: Chrome,
    org: String,
    team: String,
    members: Vec<String>,
    owner: bool,
}

/// `GET /orgs/{org}/teams/{team}`.
pub async fn team(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((org, team)): Path<(String, String)>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    if !app.auth.teams(&viewer.subject, &org).await?.contains(&team) {
        return Err(UiError::not_found());
    }
    let members = app.auth.team_members(&viewer.subject, &org, &team).await?;
    let owner = app.auth.owns_namespace(&viewer.subject, &org);
    Ok(render(&TeamPage { chrome: viewer.chrome().with_notice(query.notice.as_deref()), org, team, members, owner }))
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    user: String,
    remove: Option<String>,
}

/// `POST /orgs/{org}/teams/{team}/members`: adds or removes a member.
pub async fn member(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((org, team)): Path<(String, String)>,
    Form(form): Form<MemberForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let add = form.remove.is_none();
    app.auth.set_team_member(&viewer.subject, &org, &team, form.user.trim(), add).await?;
    Ok(after_form(&format!("/orgs/{org}/teams/{team}"), if add { "added" } else { "removed" }))
}

struct TokenLine {
    id: String,
    name: String,
    scope: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenLine>,
    created: Option<String>,
}

/// What a token reaches, in words.
fn scope(repositories: &[String], actions: &[Action]) -> String {
    let what = if actions.is_empty() {
        "pull, push and delete".to_owned()
    } else {
        actions.iter().map(|a| a.scope_word()).collect::<Vec<_>>().join(" and ")
    };
    if repositories.is_empty() { format!("{what} wherever you may") } else { format!("{what} in {}", repositories.join(", ")) }
}

async fn tokens_page(app: &AppState, viewer: &Viewer, created: Option<String>, notice: Option<&str>) -> Result<Response, UiError> {
    let name = viewer.name().to_owned();
    let tokens = app
        .auth
        .tokens(&viewer.subject, &name)
        .await?
        .into_iter()
        .map(|(id, t)| TokenLine {
            scope: scope(&t.repositories, &t.actions),
            expires: t.expires_at.map_or_else(|| "never".to_owned(), |at| time(Some(at))),
            last_used: time(t.last_used),
            name: t.name,
            id,
        })
        .collect();
    Ok(render(&TokensPage { chrome: viewer.chrome().with_notice(notice), tokens, created }))
}

/// `GET /tokens`: the viewer's access tokens.
pub async fn tokens(State(app): State<AppState>, viewer: Viewer, Query(query): Query<NoticeQuery>) -> Result<Response, UiError> {
    tokens_page(&app, &viewer, None, query.notice.as_deref()).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    repositories: String,
    pull_only: Option<String>,
    #[serde(default)]
    days: String,
}

/// `POST /tokens`: a new token, shown once on the page this answers with.
pub async fn create_token(State(app): State<AppState>, viewer: Viewer, Form(form): Form<TokenForm>) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let mut repositories = Vec::new();
    for line in form.repositories.split(['\n', ',']).map(str::trim).filter(|l| !l.is_empty()) {
        repositories.push(line.parse().map_err(|e| UiError::page(StatusCode::BAD_REQUEST, format!("{line}: {e}")))?);
    }
    let expires_at = match form.days.trim() {
        "" => None,
        days => Some(
            days.parse::<u64>()
                .ok()
                .filter(|d| *d > 0)
                .map(|d| now_secs() + d * 86_400)
                .ok_or_else(|| UiError::page(StatusCode::BAD_REQUEST, "Expiry: a number of days."))?,
        ),
    };
    let new = NewToken {
        name: form.name.trim().to_owned(),
        expires_at,
        repositories,
        actions: if form.pull_only.is_some() { vec![Action::Pull] } else { Vec::new() },
    };
    let name = viewer.name().to_owned();
    let created = app.auth.create_token(&viewer.subject, &name, new).await?;
    tokens_page(&app, &viewer, Some(created.text), Some("created")).await
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke_token(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let name = viewer.name().to_owned();
    app.auth.revoke_token(&viewer.subject, &name, &id).await?;
    Ok(after_form("/tokens", "revoked"))
}

struct UserLine {
    name: String,
    full_name: String,
    role: &'static str,
    admin: bool,
    is_active: bool,
    active: &'static str,
    source: &'static str,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserLine>,
}

/// `GET /users` (system administrators).
pub async fn users(State(app): State<AppState>, viewer: Viewer, Query(query): Query<NoticeQuery>) -> Result<Response, UiError> {
    if !viewer.subject.is_admin() {
        return Err(UiError::page(StatusCode::FORBIDDEN, "Only system administrators manage users."));
    }
    let users = app
        .auth
        .accounts(&viewer.subject)
        .await?
        .into_iter()
        .filter(|(_, a)| a.kind == AccountKind::User)
        .map(|(name, a)| UserLine {
            name,
            full_name: a.full_name,
            role: if a.admin { "administrator" } else { "user" },
            admin: a.admin,
            is_active: a.active,
            active: if a.active { "yes" } else { "no" },
            source: if a.ldap_dn.is_some() { "LDAP" } else { "local" },
        })
        .collect();
    Ok(render(&UsersPage { chrome: viewer.chrome().with_notice(query.notice.as_deref()), users }))
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    name: String,
    password: String,
    admin: Option<String>,
}

/// `POST /users` (system administrators).
pub async fn create_user(State(app): State<AppState>, viewer: Viewer, Form(form): Form<UserForm>) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let new = NewAccount {
        name: form.name.trim().to_owned(),
        password: Some(form.password),
        full_name: String::new(),
        email: String::new(),
        is_org: false,
        is_admin: form.admin.is_some(),
        is_active: true,
        adopt_repositories: false,
    };
    app.auth.create_account(&viewer.subject, new).await?;
    Ok(after_form("/users", "created"))
}

#[derive(Deserialize)]
pub struct UserChangeForm {
    #[serde(default)]
    csrf: String,
    /// `activate`, `deactivate`, `make-admin` or `withdraw-admin`.
    change: String,
}

/// `POST /users/{name}` (system administrators): activates or deactivates a user, or
/// grants or withdraws system administration; the auth service checks who may.
pub async fn change_user(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<UserChangeForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let mut changes = AccountChanges::default();
    match form.change.as_str() {
        "activate" => changes.is_active = Some(true),
        "deactivate" => changes.is_active = Some(false),
        "make-admin" => changes.is_admin = Some(true),
        "withdraw-admin" => changes.is_admin = Some(false),
        _ => return Err(UiError::page(StatusCode::BAD_REQUEST, "Unknown change.")),
    }
    app.auth.update_account(&viewer.subject, &name, changes).await?;
    Ok(after_form("/users", "saved"))
}

#[cfg(test)]
mod tests {
    use berth_auth::Action;

    #[test]
    fn token_scopes_in_words() {
        assert_eq!(super::scope(&[], &[]), "pull, push and delete wherever you may");
        assert_eq!(super::scope(&["acme/app".into()], &[Action::Pull]), "pull in acme/app");
    }
}
