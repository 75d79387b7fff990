//! Who is calling, and may they: `Authorization: Basic` (password or access token) and
//! `Bearer` (a token from `/auth/token`) into a [`Subject`], the `WWW-Authenticate`
//! challenge that starts the Docker token flow, and the access each `/v2` route needs.

use std::net::{IpAddr, SocketAddr};

use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use base64::Engine as _;
use berth_auth::{Action, Credential, Subject};

use super::error::{ApiError, Code};
use super::v2::route::{TrustEndpoint, V2Route};
use crate::app::AppState;
use crate::serve::Peer;

/// Whether the request came over TLS (set per listener), for the realm URL.
#[derive(Clone, Copy, Debug)]
pub struct Https(pub bool);

/// The address of the listener a connection arrived on (set per connection).
#[derive(Clone, Copy, Debug)]
pub struct Local(pub SocketAddr);

/// The `host[:port]` the client addressed (`Host`, or HTTP/2's `:authority`), when it
/// passes the host grammar; set for every request by the outer middleware.
#[derive(Clone, Debug)]
pub struct Authority(pub Option<String>);

/// Where the challenge sends clients for a token: the external URL when configured,
/// else the authority the client used (validated, so never reflected raw), else the
/// listener's own address.
fn realm(app: &AppState, extensions: &Extensions) -> String {
    if let Some(url) = &app.external_url {
        return format!("{}/auth/token", url.url());
    }
    let scheme = if extensions.get::<Https>().is_none_or(|h| h.0) { "https" } else { "http" };
    let authority = extensions
        .get::<Authority>()
        .and_then(|a| a.0.clone())
        .or_else(|| extensions.get::<Local>().map(|l| l.0.to_string()))
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{authority}/auth/token")
}

/// `401 UNAUTHORIZED` with the challenge for `scope`.
pub fn challenge(app: &AppState, extensions: &Extensions, scope: Option<&str>, error: Option<&str>) -> ApiError {
    let mut value = format!("Bearer realm=\"{}\",service=\"{}\"", realm(app, extensions), app.auth.service());
    if let Some(scope) = scope {
        value.push_str(&format!(",scope=\"{scope}\""));
    }
    if let Some(error) = error {
        value.push_str(&format!(",error=\"{error}\""));
    }
    let header_value = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, "authentication required").header(header::WWW_AUTHENTICATE, header_value)
}

/// Decodes `Authorization: Basic` into (user, secret).
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some((user.to_owned(), secret.to_owned()))
}

/// The source address of a request, when known.
pub fn source(extensions: &Extensions) -> Option<IpAddr> {
    extensions.get::<Peer>().map(|p| p.0.ip())
}

/// Names the caller in the request's origin: what the access log prints and what the
/// audit log records of every change and pull the request makes.
pub fn record(_extensions: &Extensions, subject: &Subject) {
    let (Some(origin), Some(name)) = (berth_auth::origin::current(), subject.name()) else { return };
    let token = match &subject.credential {
        berth_auth::Credential::AccessToken { id, .. } => Some(id.clone()),
        _ => None,
    };
    origin.identify(berth_auth::origin::Caller { user: name.to_owned(), token });
}

/// Reads and verifies the credentials (none: an anonymous subject), and records the user
/// for the access log. Wrong credentials of any kind are `InvalidCredentials`.
pub async fn authenticate(app: &AppState, headers: &HeaderMap, extensions: &Extensions) -> Result<Subject, berth_auth::Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Subject::anonymous()) };
    let value = value.to_str().unwrap_or("");
    let subject = if let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
        app.auth.bearer(token.trim()).await.map_err(|e| match e {
            berth_auth::Error::InvalidToken(why) => {
                tracing::debug!(error = %why, "bearer token refused");
                berth_auth::Error::InvalidCredentials
            }
            other => other,
        })?
    } else {
        let (user, secret) = basic_credentials(value).ok_or(berth_auth::Error::InvalidCredentials)?;
        app.auth.login(&user, &secret, source(extensions)).await?
    };
    record(extensions, &subject);
    Ok(subject)
}

/// [`authenticate`] for `/v2`: wrong credentials are a `401` with the Docker token flow's
/// challenge (`error="invalid_token"` for a bearer token), the same whatever was wrong.
pub async fn identify(app: &AppState, headers: &HeaderMap, extensions: &Extensions) -> Result<Subject, ApiError> {
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().starts_with("bearer "));
    match authenticate(app, headers, extensions).await {
        Ok(subject) => Ok(subject),
        Err(berth_auth::Error::InvalidCredentials) => Err(challenge(app, extensions, None, bearer.then_some("invalid_token"))),
        Err(e) => Err(e.into()),
    }
}

/// The action a route needs on its repository (`None` for the base and the catalog).
pub fn needed(route: &V2Route, method: &axum::http::Method) -> Option<(String, Action)> {
    use axum::http::Method;
    let (name, action) = match route {
        V2Route::Base | V2Route::Catalog => return None,
        V2Route::Tags { name } | V2Route::Referrers { name, .. } => (name, Action::Pull),
        V2Route::Manifest { name, .. } | V2Route::Blob { name, .. } => match *method {
            Method::PUT => (name, Action::Push),
            Method::DELETE => (name, Action::Delete),
            _ => (name, Action::Pull),
        },
        V2Route::Uploads { name } | V2Route::Upload { name, .. } => (name, Action::Push),
        // Notary's scopes: reads need pull, updates and key reads push (and pull, which
        // every push grant includes), deletion and key rotation `*`.
        V2Route::Trust { name, endpoint, .. } => match (endpoint, method.clone()) {
            (TrustEndpoint::Metadata { .. }, _) => (name, Action::Pull),
            (TrustEndpoint::Tuf, Method::POST) | (TrustEndpoint::Key { .. }, Method::GET) => (name, Action::Push),
            _ => (name, Action::Admin),
        },
    };
    Some((name.to_string(), action))
}

/// Whether `subject` may do `action` on `repository`.
pub async fn may(app: &AppState, subject: &Subject, repository: &str, action: Action) -> Result<bool, ApiError> {
    Ok(app.auth.may(subject, repository, action).await?)
}

/// Refuses the request unless the caller may make it: `401` with a challenge naming the
/// scope needed (anonymous callers, and bearer tokens lacking the scope), `403` for a
/// user who logged in but lacks the right.
pub async fn authorize(
    app: &AppState,
    subject: &Subject,
    route: &V2Route,
    method: &axum::http::Method,
    extensions: &Extensions,
) -> Result<(), ApiError> {
    let anonymous = subject.user.is_none() && subject.credential == Credential::None;
    let Some((repository, action)) = needed(route, method) else {
        return match route {
            V2Route::Catalog if subject.user.is_none() => Err(challenge(app, extensions, Some("registry:catalog:*"), None)),
            V2Route::Catalog if !subject.credential.lists_catalog() => {
                Err(challenge(app, extensions, Some("registry:catalog:*"), Some("insufficient_scope")))
            }
            _ if anonymous => Err(challenge(app, extensions, None, None)),
            _ => Ok(()),
        };
    };
    if may(app, subject, &repository, action).await? {
        return Ok(());
    }
    let scoped = match route {
        V2Route::Trust { gun, .. } => gun.as_str(),
        _ => repository.as_str(),
    };
    let scope = match action {
        Action::Pull => format!("repository:{scoped}:pull"),
        Action::Push => format!("repository:{scoped}:pull,push"),
        Action::Delete => format!("repository:{scoped}:delete"),
        Action::Admin => format!("repository:{scoped}:*"),
    };
    match (&subject.credential, &subject.user) {
        (Credential::Bearer(_), _) => Err(challenge(app, extensions, Some(&scope), Some("insufficient_scope"))),
        (_, None) => Err(challenge(app, extensions, Some(&scope), None)),
        (_, Some(_)) => Err(ApiError::new(StatusCode::FORBIDDEN, Code::Denied, format!("requested access to {repository} is denied"))),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    /// Every `/v2` route and method, and the action it needs on which repository.
    #[test]
    fn every_route_needs_its_action() {
        const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        const U: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        let gun = "localhost:5443/ns/app";
        type Case = (Method, String, Option<(&'static str, Action)>);
        let table: Vec<Case> = vec![
            (Method::GET, "/v2/".into(), None),
            (Method::GET, "/v2/_catalog".into(), None),
            (Method::GET, "/v2/ns/app/tags/list".into(), Some(("ns/app", Action::Pull))),
            (Method::GET, "/v2/ns/app/manifests/v1".into(), Some(("ns/app", Action::Pull))),
            (Method::HEAD, "/v2/ns/app/manifests/v1".into(), Some(("ns/app", Action::Pull))),
            (Method::PUT, "/v2/ns/app/manifests/v1".into(), Some(("ns/app", Action::Push))),
            (Method::DELETE, format!("/v2/ns/app/manifests/{D}"), Some(("ns/app", Action::Delete))),
            (Method::DELETE, "/v2/ns/app/manifests/v1".into(), Some(("ns/app", Action::Delete))),
            (Method::GET, format!("/v2/ns/app/blobs/{D}"), Some(("ns/app", Action::Pull))),
            (Method::HEAD, format!("/v2/ns/app/blobs/{D}"), Some(("ns/app", Action::Pull))),
            (Method::DELETE, format!("/v2/ns/app/blobs/{D}"), Some(("ns/app", Action::Delete))),
            (Method::POST, "/v2/ns/app/blobs/uploads/".into(), Some(("ns/app", Action::Push))),
            (Method::GET, format!("/v2/ns/app/blobs/uploads/{U}"), Some(("ns/app", Action::Push))),
            (Method::PATCH, format!("/v2/ns/app/blobs/uploads/{U}"), Some(("ns/app", Action::Push))),
            (Method::PUT, format!("/v2/ns/app/blobs/uploads/{U}"), Some(("ns/app", Action::Push))),
            (Method::DELETE, format!("/v2/ns/app/blobs/uploads/{U}"), Some(("ns/app", Action::Push))),
            (Method::GET, format!("/v2/ns/app/referrers/{D}"), Some(("ns/app", Action::Pull))),
            (Method::GET, format!("/v2/{gun}/_trust/tuf/root.json"), Some(("ns/app", Action::Pull))),
            (Method::HEAD, format!("/v2/{gun}/_trust/tuf/2.targets.json"), Some(("ns/app", Action::Pull))),
            (Method::POST, format!("/v2/{gun}/_trust/tuf/"), Some(("ns/app", Action::Push))),
            (Method::GET, format!("/v2/{gun}/_trust/tuf/timestamp.key"), Some(("ns/app", Action::Push))),
            (Method::POST, format!("/v2/{gun}/_trust/tuf/timestamp.key"), Some(("ns/app", Action::Admin))),
            (Method::DELETE, format!("/v2/{gun}/_trust/tuf/"), Some(("ns/app", Action::Admin))),
        ];
        for (method, path, expected) in table {
            let route = V2Route::parse(&method, &path).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let needs = needed(&route, &method);
            assert_eq!(needs.as_ref().map(|(r, a)| (r.as_str(), *a)), expected, "{method} {path}");
        }
    }
}
