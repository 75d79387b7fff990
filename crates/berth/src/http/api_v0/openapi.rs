//! The OpenAPI document of `/api/v0`, generated from the handlers' annotations and
//! served at `/api/v0/openapi.json`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::{accounts, cluster, gc, ldap, quotas, repositories, signing, tags, tokens};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth API",
        description = "Accounts, organizations, teams, repositories, access and tokens, in Docker Trusted Registry's shapes."
    ),
    paths(
        accounts::create,
        accounts::list,
        accounts::get,
        accounts::update,
        accounts::delete,
        accounts::create_team,
        accounts::list_teams,
        accounts::get_team,
        accounts::delete_team,
        accounts::list_members,
        accounts::add_member,
        accounts::remove_member,
        repositories::list,
        repositories::list_namespace,
        repositories::create,
        repositories::get,
        repositories::update,
        repositories::delete,
        repositories::list_team_access,
        repositories::grant_team,
        repositories::revoke_team,
        repositories::grant_namespace,
        repositories::revoke_namespace,
        repositories::user_access,
        tokens::create,
        tokens::list,
        tokens::revoke,
        ldap::get_team_sync,
        ldap::put_team_sync,
        ldap::run_sync,
        ldap::last_sync,
        gc::start,
        gc::status,
        quotas::get,
        quotas::put,
        cluster::status,
        cluster::join_token,
        cluster::remove_replica,
        cluster::backup,
        tags::list,
        tags::get,
        tags::trust,
        tags::delete,
        signing::get,
        signing::put,
    )
)]
struct Document;

/// `GET /api/v0/openapi.json`.
pub async fn document() -> Response {
    Json(Document::openapi()).into_response()
}
