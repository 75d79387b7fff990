//! The Docker token service at `/auth/token`.
//!
//! - `GET /auth/token?service=&scope=…`, with Basic credentials or none (anonymous
//!   callers get a token carrying only what anonymous callers may do).
//! - `POST /auth/token` (form): `grant_type=password` (`username`, `password`) or
//!   `grant_type=refresh_token` (`refresh_token`).
//!
//! Requested actions are narrowed to what the policy allows for the credential given (a
//! restricted access token's limits included); a request for nothing allowed still gets
//! a token (the registry then refuses the operation). At most [`MAX_SCOPES`] scopes, and
//! a form of at most [`MAX_BODY`] bytes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::jwt::Access;
use berth_auth::{Action, Subject};
use serde_json::json;

use super::RouteName;
use super::auth::{basic_credentials, challenge, record, source};
use super::error::{ApiError, Code};
use crate::app::AppState;

/// The most scopes one request may ask for (docker asks for one to three).
pub const MAX_SCOPES: usize = 64;
/// The largest `POST /auth/token` form accepted.
pub const MAX_BODY: usize = 16 << 10;

/// Parses `type:name:actions`; the name may itself hold `:` (a registry host and port).
fn parse_scope(scope: &str) -> Option<(String, String, Vec<String>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if name.is_empty() {
        return None;
    }
    Some((kind.to_owned(), name.to_owned(), actions.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect()))
}

async fn grant(app: &AppState, subject: &Subject, scopes: &[String]) -> Result<Vec<Access>, ApiError> {
    let scopes: Vec<&str> = scopes.iter().flat_map(|s| s.split(' ')).filter(|s| !s.is_empty()).collect();
    if scopes.len() > MAX_SCOPES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::Unsupported,
            format!("a token request names at most {MAX_SCOPES} scopes"),
        ));
    }
    let mut granted = Vec::new();
    for scope in scopes {
        let Some((kind, name, words)) = parse_scope(scope) else { continue };
        if kind == "registry" && name == "catalog" {
            let may = subject.user.is_some();
            granted.push(Access { kind, name, actions: if may { vec!["*".into()] } else { vec![] } });
            continue;
        }
        // The trust client names the repository host-qualified (its GUN); the daemon bare.
        let repository = berth_core::split_host(&name).1;
        if kind != "repository" || repository.parse::<berth_core::RepositoryName>().is_err() {
            continue;
        }
        let wanted: Vec<Action> = words.iter().filter_map(|w| Action::from_scope_word(w)).collect();
        let allowed = app.auth.allowed(subject, repository, &wanted).await?;
        granted.push(Access { kind, name, actions: allowed.iter().map(|a| a.scope_word().to_owned()).collect() });
    }
    Ok(granted)
}

fn token_response(app: &AppState, subject: &Subject, access: Vec<Access>, refresh: bool) -> Result<Response, ApiError> {
    let (token, expires_in) = app.auth.issue(subject, access)?;
    let mut body = json!({"token": token, "access_token": token, "expires_in": expires_in});
    if refresh {
        body["refresh_token"] = app.auth.issue_refresh(subject)?.into();
    }
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    response.extensions_mut().insert(RouteName("token"));
    Ok(response)
}

fn pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// `GET /auth/token`, with Basic credentials or none. It never returns a refresh token,
/// even when asked (`offline_token=true`, as `docker login` asks): docker then keeps the
/// credential the user gave, which `podman` and `skopeo` can read from the same
/// `config.json`, and which stops working the moment it is revoked or changed.
pub async fn get(State(app): State<AppState>, parts: Parts) -> Response {
    let params = pairs(parts.uri.query().unwrap_or(""));
    let scopes: Vec<String> = params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
    let subject = match parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        None => Subject::anonymous(),
        Some(value) => {
            let Some((user, secret)) = basic_credentials(value) else {
                return challenge(&app, &parts.extensions, None, None).into_response();
            };
            match app.auth.login(&user, &secret, source(&parts.extensions)).await {
                Ok(subject) => subject,
                Err(berth_auth::Error::InvalidCredentials) => return challenge(&app, &parts.extensions, None, None).into_response(),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    record(&parts.extensions, &subject);
    match grant(&app, &subject, &scopes).await {
        Ok(access) => token_response(&app, &subject, access, false).unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

/// `POST /auth/token` (OAuth2 password and refresh-token grants). A refresh token is
/// issued only to an explicit `access_type=offline` password grant; it carries the
/// limits of the credential it was obtained with and dies with it.
pub async fn post(State(app): State<AppState>, parts: Parts, body: Bytes) -> Response {
    let params = pairs(&String::from_utf8_lossy(&body));
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let scopes: Vec<String> = params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
    let denied = || ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, "invalid credentials").into_response();
    let (subject, refresh) = match param("grant_type").as_deref() {
        Some("password") => {
            let (Some(user), Some(password)) = (param("username"), param("password")) else { return denied() };
            match app.auth.login(&user, &password, source(&parts.extensions)).await {
                Ok(subject) => (subject, param("access_type").as_deref() == Some("offline")),
                Err(berth_auth::Error::InvalidCredentials) => return denied(),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        Some("refresh_token") => {
            let Some(token) = param("refresh_token") else { return denied() };
            match app.auth.refresh(&token).await {
                Ok(subject) => (subject, false),
                Err(berth_auth::Error::InvalidToken(_) | berth_auth::Error::InvalidCredentials) => return denied(),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        _ => {
            return ApiError::new(StatusCode::BAD_REQUEST, Code::Unsupported, "grant_type must be password or refresh_token")
                .into_response();
        }
    };
    record(&parts.extensions, &subject);
    match grant(&app, &subject, &scopes).await {
        Ok(access) => token_response(&app, &subject, access, refresh).unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(parse_scope("repository:a/b:pull,push"), Some(("repository".into(), "a/b".into(), vec!["pull".into(), "push".into()])));
        assert_eq!(parse_scope("repository:localhost:5443/a/b:pull").unwrap().1, "localhost:5443/a/b");
        assert_eq!(parse_scope("registry:catalog:*").unwrap().2, vec!["*".to_owned()]);
        assert_eq!(parse_scope("nonsense"), None);
        assert_eq!(parse_scope("repository::pull"), None);
    }
}
