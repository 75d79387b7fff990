//! Who is calling, and may they: `Authorization: Basic` (password or access token) and
//! `Bearer` (a token from `/auth/token`) into a [`Subject`], the `WWW-Authenticate`
//! challenge that starts the Docker token flow, and the access each `/v2` route needs.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

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

/// Where the access log learns who made a request: set once the credentials are checked.
#[derive(Clone, Debug, Default)]
pub struct Who(pub Arc<OnceLock<String>>);

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

/// Records the caller for the access log.
pub fn record(extensions: &Extensions, subject: &Subject) {
    if let (Some(who), Some(name)) = (extensions.get::<Who>(), subject.name()) {
        let _ = who.0.set(name.to_owned());
    }
}

/// The answer to a login that failed for another reason than wrong credentials (which
/// each endpoint answers in its own way): `429` after too many failed attempts, `503`
/// when the LDAP directory cannot be asked or the password checks are saturated, `500`
/// otherwise.
pub fn login_failed(e: &berth_auth::Error) -> ApiError {
    match e {
        berth_auth::Error::TooManyAttempts => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, Code::TooManyRequests, "too many failed login attempts; try again later")
        }
        berth_auth::Error::Directory(cause) => {
            tracing::warn!(error = %cause, "LDAP directory unavailable for a login");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, "the LDAP directory cannot be reached; try again later")
        }
        berth_auth::Error::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, e.to_string())
            .header(header::RETRY_AFTER, HeaderValue::from_static("1")),
        other => ApiError::internal(other),
    }
}

/// Reads and verifies the credentials. Wrong credentials are a `401` with a challenge,
/// the same whatever was wrong.
pub async fn identify(app: &AppState, headers: &HeaderMap, extensions: &Extensions) -> Result<Subject, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Subject::anonymous()) };
    let value = value.to_str().unwrap_or("");
    let subject = if let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
        match app.auth.bearer(token.trim()).await {
            Ok(subject) => subject,
            Err(berth_auth::Error::Meta(e)) => return Err(ApiError::internal(&e)),
            Err(e) => {
                tracing::debug!(error = %e, "bearer token refused");
                return Err(challenge(app, extensions, None, Some("invalid_token")));
            }
        }
    } else {
        let Some((user, secret)) = basic_credentials(value) else {
            return Err(challenge(app, extensions, None, None));
        };
        match app.auth.login(&user, &secret, source(extensions)).await {
            Ok(subject) => subject,
            Err(berth_auth::Error::InvalidCredentials) => return Err(challenge(app, extensions, None, None)),
            Err(e) => return Err(login_failed(&e)),
        }
    };
    record(extensions, &subject);
    Ok(subject)
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
    app.auth.may(subject, repository, action).await.map_err(|e| ApiError::internal(&e))
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
