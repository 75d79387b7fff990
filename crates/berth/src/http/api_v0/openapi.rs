//! The OpenAPI document of `/api/v0` (and of the account operations DTR also served under
//! `/enzi/v0`), generated from the handlers' annotations and the response bodies of
//! `model.rs`, served at `/api/v0/openapi.json`, and as a page people read at
//! `/api/v0/docs`.

use std::sync::LazyLock;

use axum::Json;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

use super::{
    accounts, cache, cluster, events, gc, ldap, mirroring, promotion, pruning, quotas, repositories, signing, tags, tokens, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth API",
        description = "Accounts, organizations, teams, repositories, access, tokens, trust policy, quotas, pruning, promotion and mirroring policies, pull-through caches, garbage collection, \
                       the cluster, webhooks and the audit log, in Docker Trusted Registry's shapes. Every failure answers `ErrorBody` \
                       (`{\"errors\":[{\"code\",\"message\"}]}`). Listings of accounts and repositories are paged with \
                       `start` and `limit`, and answer `X-Total-Count` and a `Link` to the next page."
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
        repositories::list_namespace_access,
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
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        webhooks::deliveries,
        webhooks::redeliver,
        webhooks::test,
        pruning::list,
        pruning::create,
        pruning::get,
        pruning::update,
        pruning::delete,
        pruning::run,
        promotion::list,
        promotion::create,
        promotion::get,
        promotion::update,
        promotion::delete,
        mirroring::list_push,
        mirroring::create_push,
        mirroring::get_push,
        mirroring::update_push,
        mirroring::delete_push,
        mirroring::list_poll,
        mirroring::create_poll,
        mirroring::get_poll,
        mirroring::update_poll,
        mirroring::delete_poll,
        cache::list,
        cache::get,
        cache::put,
        cache::delete,
        events::list,
        events::export,
    ),
    modifiers(&Conventions),
    security(("basic" = []), ("bearer" = []))
)]
struct Document;

/// Security schemes, operation ids a client generator can use, and the `/enzi/v0` copies.
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some("A user name with its password, or with one of its access tokens as the password.".into());
        components.add_security_scheme("basic", SecurityScheme::Http(basic));
        let mut bearer = Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        bearer.description = Some("A token from `/auth/token` (Docker's token flow); it reaches only the repositories it names.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));

        // Every failure answers the error envelope, whatever its status: the default answer.
        let failure = ResponseBuilder::new()
            .description("a failure: the error envelope (the code says which)")
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build();
        // Handlers of different tags share names (`create`, `list`): the tag makes them unique.
        let mut enzi = Vec::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                operation.responses.responses.entry("default".into()).or_insert_with(|| failure.clone().into());
                let tag = operation.tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_default();
                let id = operation.operation_id.take().unwrap_or_default();
                operation.operation_id = Some(if id.starts_with(&tag) { id } else { format!("{tag}_{id}") });
            }
            if let Some(rest) = path.strip_prefix("/api/v0/accounts") {
                let mut copy = item.clone();
                for operation in operations(&mut copy) {
                    operation.operation_id = operation.operation_id.take().map(|id| format!("enzi_{id}"));
                    operation.tags = Some(vec!["enzi".into()]);
                }
                enzi.push((format!("/enzi/v0/accounts{rest}"), copy));
            }
        }
        openapi.paths.paths.extend(enzi);
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head].into_iter().flatten()
}

/// The document, built once.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(Document::openapi);

/// `GET /api/v0/openapi.json`.
pub async fn document() -> Response {
    Json(&*DOCUMENT).into_response()
}

/// `GET /api/v0/docs`: the document as a page (rendered here, no script).
pub async fn page() -> Response {
    static PAGE: LazyLock<String> = LazyLock::new(|| super::docs_page::render(&serde_json::to_value(&*DOCUMENT).unwrap_or_default()));
    let policy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";
    ([(header::CONTENT_SECURITY_POLICY, policy)], Html(PAGE.as_str())).into_response()
}
