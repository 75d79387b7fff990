//! Who is calling, and may they: `Authorization: Basic` (password or access token) and
//! `Bearer` (a token from `/auth/token`), the `WWW-Authenticate` challenge that starts the
//! Docker token flow, and the access each `/v2` route needs.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use base64::Engine as _;
use berth_auth::jwt::Claims;
use berth_auth::{Action, Auth, Subject};

use super::error::{ApiError, Code};
use super::v2::route::{TrustEndpoint, V2Route};
use crate::app::AppState;
use crate::serve::Peer;

/// Whether the request came over TLS (set per listener), for the realm URL.
#[derive(Clone, Copy, Debug)]
pub struct Https(pub bool);

/// The caller, as far as the credentials say.
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// Basic authentication, verified.
    User(Subject),
    /// A bearer token, verified; its claims say what it may do.
    Token(Claims),
}

/// Where the challenge sends clients for a token.
fn realm(headers: &HeaderMap, https: Https) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("{}://{host}/auth/token", if https.0 { "https" } else { "http" })
}

/// `401 UNAUTHORIZED` with the challenge for `scope`.
pub fn challenge(app: &AppState, headers: &HeaderMap, https: Https, scope: Option<&str>, error: Option<&str>) -> ApiError {
    let mut value = format!("Bearer realm=\"{}\",service=\"{}\"", realm(headers, https), app.auth.service());
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
pub fn source(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<Peer>().map(|p| p.0.ip())
}

/// The answer to a login that failed for another reason than wrong credentials (which
/// each endpoint answers in its own way): `429` after too many failed attempts, `503`
/// when the LDAP directory cannot be asked, `500` otherwise.
pub fn login_failed(e: &berth_auth::Error) -> ApiError {
    match e {
        berth_auth::Error::TooManyAttempts => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, Code::TooManyRequests, "too many failed login attempts; try again later")
        }
        berth_auth::Error::Directory(cause) => {
            tracing::warn!(error = %cause, "LDAP directory unavailable for a login");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, "the LDAP directory cannot be reached; try again later")
        }
        other => ApiError::internal(other),
    }
}

/// Reads and verifies the credentials. Wrong credentials are a `401` with a challenge,
/// the same whatever was wrong.
pub async fn identify(app: &AppState, headers: &HeaderMap, source: Option<std::net::IpAddr>, https: Https) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Caller::Anonymous) };
    let value = value.to_str().unwrap_or("");
    if let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
        return app.auth.verify_access(token.trim()).map(Caller::Token).map_err(|e| {
            tracing::debug!(error = %e, "bearer token refused");
            challenge(app, headers, https, None, Some("invalid_token"))
        });
    }
    let Some((user, secret)) = basic_credentials(value) else {
        return Err(challenge(app, headers, https, None, None));
    };
    match app.auth.login(&user, &secret, source).await {
        Ok(subject) => Ok(Caller::User(subject)),
        Err(berth_auth::Error::InvalidCredentials) => Err(challenge(app, headers, https, None, None)),
        Err(e) => Err(login_failed(&e)),
    }
}

/// The subject a caller acts as (a bearer token acts as its user, or anonymously).
pub async fn subject(app: &AppState, caller: &Caller) -> Result<Subject, ApiError> {
    match caller {
        Caller::Anonymous => Ok(Subject::Anonymous),
        Caller::User(subject) => Ok(subject.clone()),
        Caller::Token(claims) if claims.sub.is_empty() => Ok(Subject::Anonymous),
        Caller::Token(claims) => Ok(app.auth.subject(&claims.sub, None).await.map_err(|e| ApiError::internal(&e))?.unwrap_or(Subject::Anonymous)),
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

/// Whether `caller` may do `action` on `repository`.
pub async fn may(app: &AppState, caller: &Caller, repository: &str, action: Action) -> Result<bool, ApiError> {
    match caller {
        Caller::Token(claims) => Ok(Auth::grants(claims, repository, action)),
        Caller::Anonymous | Caller::User(_) => {
            let subject = subject(app, caller).await?;
            let allowed = app.auth.allowed(&subject, repository, &[action]).await.map_err(|e| ApiError::internal(&e))?;
            Ok(!allowed.is_empty())
        }
    }
}

/// Refuses the request unless the caller may make it: `401` with a challenge naming the
/// scope needed (anonymous callers, and tokens lacking the scope), `403` for a user
/// who logged in but lacks the right.
pub async fn authorize(
    app: &AppState,
    caller: &Caller,
    route: &V2Route,
    method: &axum::http::Method,
    headers: &HeaderMap,
    https: Https,
) -> Result<(), ApiError> {
    let Some((repository, action)) = needed(route, method) else {
        return match (caller, route) {
            (Caller::Anonymous, V2Route::Catalog) => Err(challenge(app, headers, https, Some("registry:catalog:*"), None)),
            (Caller::Anonymous, _) => Err(challenge(app, headers, https, None, None)),
            _ => Ok(()),
        };
    };
    if may(app, caller, &repository, action).await? {
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
    match caller {
        Caller::User(_) => Err(ApiError::new(StatusCode::FORBIDDEN, Code::Denied, format!("requested access to {repository} is denied"))),
        Caller::Token(_) => Err(challenge(app, headers, https, Some(&scope), Some("insufficient_scope"))),
        Caller::Anonymous => Err(challenge(app, headers, https, Some(&scope), None)),
    }
}
