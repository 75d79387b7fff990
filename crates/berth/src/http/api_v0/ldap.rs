//! The LDAP directory in the API: a team's link to an LDAP group or search (DTR's
//! `memberSyncConfig`), and running the sync job on demand.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_auth::TeamSync;
use serde::{Deserialize, Serialize};

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// A team's member sync configuration, in DTR's shape.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSyncConfig {
    /// Whether the sync job sets this team's members.
    #[serde(default)]
    enable_sync: bool,
    /// `true`: the members of the group `groupDN`; `false`: the results of the search.
    #[serde(default = "yes")]
    select_group_members: bool,
    /// The group entry's DN.
    #[serde(default, rename = "groupDN")]
    group_dn: String,
    /// The group attribute that lists member DNs (default `member`).
    #[serde(default = "member")]
    group_member_attr: String,
    /// Where the search starts.
    #[serde(default, rename = "searchBaseDN")]
    search_base_dn: String,
    /// The search filter.
    #[serde(default)]
    search_filter: String,
    /// Whole subtree, or one level.
    #[serde(default)]
    search_scope_subtree: bool,
}

fn yes() -> bool {
    true
}

fn member() -> String {
    "member".into()
}

impl From<Option<TeamSync>> for MemberSyncConfig {
    fn from(sync: Option<TeamSync>) -> MemberSyncConfig {
        let s = sync.unwrap_or(TeamSync {
            enabled: false,
            select_group_members: true,
            group_dn: String::new(),
            group_member_attribute: member(),
            search_base_dn: String::new(),
            search_filter: String::new(),
            search_subtree: false,
        });
        MemberSyncConfig {
            enable_sync: s.enabled,
            select_group_members: s.select_group_members,
            group_dn: s.group_dn,
            group_member_attr: s.group_member_attribute,
            search_base_dn: s.search_base_dn,
            search_filter: s.search_filter,
            search_scope_subtree: s.search_subtree,
        }
    }
}

#[utoipa::path(get, path = "/api/v0/accounts/{org}/teams/{team}/memberSyncConfig", tag = "ldap", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), responses((status = 200, description = "the team's link to the directory", body = MemberSyncConfig), (status = 404, description = "NO_SUCH_TEAM", body = model::ErrorBody)))]
/// How a team's members are synced from LDAP.
pub async fn get_team_sync(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response, ApiV0Error> {
    let sync = app.auth.team_sync(&caller.0, &org, &team).await?;
    Ok(Json(MemberSyncConfig::from(sync)).into_response())
}

#[utoipa::path(put, path = "/api/v0/accounts/{org}/teams/{team}/memberSyncConfig", tag = "ldap", params(("org" = String, Path, description = "organization"), ("team" = String, Path, description = "team")), request_body = MemberSyncConfig, responses((status = 200, description = "the new configuration", body = MemberSyncConfig), (status = 400, description = "INVALID_INPUT", body = model::ErrorBody), (status = 404, description = "NO_SUCH_TEAM", body = model::ErrorBody)))]
/// Links a team to an LDAP group (`selectGroupMembers`, `groupDN`, `groupMemberAttr`) or
/// search (`searchBaseDN`, `searchFilter`, `searchScopeSubtree`); the next sync sets its
/// members.
pub async fn put_team_sync(
    State(app): State<AppState>,
    caller: Caller,
    Path((org, team)): Path<(String, String)>,
    Json(config): Json<MemberSyncConfig>,
) -> Result<Response, ApiV0Error> {
    let sync = TeamSync {
        enabled: config.enable_sync,
        select_group_members: config.select_group_members,
        group_dn: config.group_dn,
        group_member_attribute: config.group_member_attr,
        search_base_dn: config.search_base_dn,
        search_filter: config.search_filter,
        search_subtree: config.search_scope_subtree,
    };
    app.auth.set_team_sync(&caller.0, &org, &team, sync.clone()).await?;
    Ok(Json(MemberSyncConfig::from(Some(sync))).into_response())
}

fn report_model(r: berth_auth::LdapSyncReport) -> model::LdapSyncReport {
    model::LdapSyncReport {
        started_at: r.started_at,
        finished_at: r.finished_at,
        directory_users: r.directory_users as u64,
        users_created: r.users_created as u64,
        users_updated: r.users_updated as u64,
        users_deactivated: r.users_deactivated as u64,
        teams_synced: r.teams_synced as u64,
        members_added: r.members_added as u64,
        members_removed: r.members_removed as u64,
        problems: r.problems,
    }
}

#[utoipa::path(post, path = "/api/v0/ldap/sync", tag = "ldap", responses((status = 200, description = "the report of the run", body = model::LdapSyncReport), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 409, description = "LDAP_NOT_CONFIGURED", body = model::ErrorBody), (status = 503, description = "LDAP_UNAVAILABLE", body = model::ErrorBody)))]
/// Syncs accounts and team members from the LDAP directory now (system admins).
pub async fn run_sync(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiV0Error> {
    let report = app.auth.sync_directory_for(&caller.0).await?;
    Ok(Json(report_model(report)).into_response())
}

#[utoipa::path(get, path = "/api/v0/ldap/sync", tag = "ldap", responses((status = 200, description = "the report of the last run", body = model::LdapSyncReport), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 404, description = "NO_SYNC_YET", body = model::ErrorBody)))]
/// The report of the last LDAP sync (system admins).
pub async fn last_sync(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiV0Error> {
    match app.auth.last_sync(&caller.0).await? {
        Some(report) => Ok(Json(report_model(report)).into_response()),
        None => Err(ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SYNC_YET", "the LDAP sync has not run yet")),
    }
}
