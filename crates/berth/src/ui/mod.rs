//! The web UI: server-rendered pages (askama templates compiled into the binary, one
//! stylesheet, no script), served at `/` on the registry's port.
//!
//! Signing in makes a session (`berth-auth`'s `session.rs`); its cookie is `Secure`,
//! `HttpOnly`, `SameSite=Strict`. Every form carries the session's CSRF token and every
//! POST checks it; the sign-in form, before there is a session, carries a token that must
//! match its own strict cookie. Pages ask the services exactly what the API asks them, with the
//! signed-in user as the subject, so a page never shows what the API would not.
//! Every answer carries a strict `Content-Security-Policy`.
//!
//! - `session.rs`: signing in and out.
//! - `repositories.rs`: the repository list and search, a repository's tags, a tag, settings.
//! - `accounts.rs`: organizations, teams, users, access tokens.
//! - `system.rs`: the cluster and LDAP.
//! - `format.rs`: sizes and times as people read them.

mod accounts;
mod format;
mod repositories;
mod session;
mod system;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use berth_auth::Subject;

use crate::app::AppState;
use crate::http::error::ApiV0Error;

/// The session cookie's name.
const COOKIE: &str = "berth_session";

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/repositories") }))
        .route("/static/berth.css", get(stylesheet))
        .route("/login", get(session::form).post(session::sign_in))
        .route("/logout", post(session::sign_out))
        .route("/repositories", get(repositories::list).post(repositories::create))
        .route("/repositories/{ns}/{repo}", get(repositories::show))
        .route("/repositories/{ns}/{repo}/tags/{tag}", get(repositories::tag))
        .route("/repositories/{ns}/{repo}/tags/{tag}/delete", post(repositories::delete_tag))
        .route("/repositories/{ns}/{repo}/settings", get(repositories::settings).post(repositories::save_settings))
        .route("/repositories/{ns}/{repo}/access", post(repositories::grant))
        .route("/orgs", get(accounts::orgs).post(accounts::create_org))
        .route("/orgs/{org}", get(accounts::org))
        .route("/orgs/{org}/teams", post(accounts::create_team))
        .route("/orgs/{org}/access", post(accounts::grant_namespace))
        .route("/orgs/{org}/teams/{team}", get(accounts::team))
        .route("/orgs/{org}/teams/{team}/members", post(accounts::member))
        .route("/tokens", get(accounts::tokens).post(accounts::create_token))
        .route("/tokens/{id}/revoke", post(accounts::revoke_token))
        .route("/users", get(accounts::users).post(accounts::create_user))
        .route("/users/{name}", post(accounts::change_user))
        .route("/system", get(system::page))
        .route("/system/ldap-sync", post(system::sync))
        .route("/system/gc", post(system::collect))
        .layer(middleware::map_response(protect))
}

/// Every UI answer: no framing, no sniffing, no script, nothing cached.
async fn protect(mut response: Response) -> Response {
    response.extensions_mut().insert(crate::http::RouteName("ui"));
    let headers = response.headers_mut();
    let policy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    let css = include_str!("../../static/berth.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], css).into_response()
}

/// The signed-in user of a page.
pub struct Viewer {
    /// As the policy sees them.
    pub subject: Subject,
    /// The CSRF token their forms carry.
    pub csrf: String,
}

impl Viewer {
    fn name(&self) -> &str {
        self.subject.name().unwrap_or_default()
    }

    /// The page chrome for this viewer.
    fn chrome(&self) -> Chrome {
        Chrome {
            user: Some(self.name().to_owned()),
            admin: self.subject.is_admin(),
            csrf: self.csrf.clone(),
            query: String::new(),
            notice: None,
            problem: None,
        }
    }

    /// Refuses a form that does not carry the session's CSRF token.
    fn check(&self, presented: &str) -> Result<(), UiError> {
        if berth_auth::session::csrf_matches(&self.csrf, presented) {
            Ok(())
        } else {
            Err(UiError::page(StatusCode::FORBIDDEN, "This form has expired or did not come from Berth; reload the page and try again."))
        }
    }
}

/// The session cookie's value, if the request has one.
fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// A cookie's value, if the request has it.
fn cookie(headers: &axum::http::HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let sign_in = || {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/repositories");
            let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        };
        let Some(cookie) = session_cookie(&parts.headers) else { return Err(sign_in()) };
        match app.auth.session(&cookie).await {
            Ok(session) => Ok(Viewer { subject: session.subject, csrf: session.csrf }),
            Err(berth_auth::Error::InvalidCredentials) => Err(sign_in()),
            Err(e) => Err(UiError::from(e).into_response()),
        }
    }
}

/// What every page shows around its content.
pub struct Chrome {
    /// The signed-in user.
    pub user: Option<String>,
    /// Whether they administer the system.
    pub admin: bool,
    /// The CSRF token for forms.
    pub csrf: String,
    /// The search box's text.
    pub query: String,
    /// A message about what just succeeded.
    pub notice: Option<String>,
    /// A message about what just failed.
    pub problem: Option<String>,
}

impl Chrome {
    fn anonymous() -> Chrome {
        Chrome { user: None, admin: false, csrf: String::new(), query: String::new(), notice: None, problem: None }
    }

    /// With the notice a redirect after a form named (a fixed set: a link cannot make
    /// Berth say something else).
    fn with_notice(mut self, code: Option<&str>) -> Chrome {
        self.notice = code.and_then(notice_text).map(str::to_owned);
        self
    }
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "gc-started" => "Garbage collection started.",
        "granted" => "Access changed.",
        "added" => "Member added.",
        "removed" => "Member removed.",
        "revoked" => "Token revoked.",
        "synced" => "The directory sync ran.",
        _ => return None,
    })
}

/// A page, rendered.
fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => UiError::from(ApiV0Error::internal(&e)).into_response(),
    }
}

/// A redirect after a form (`303 See Other`), with a notice code.
fn after_form(to: &str, notice: &str) -> Response {
    let separator = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{separator}notice={notice}")).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: String,
    message: String,
}

/// A failure, shown as a page with its status.
pub struct UiError {
    status: StatusCode,
    message: String,
}

impl UiError {
    fn page(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError { status, message: message.into() }
    }

    fn not_found() -> UiError {
        UiError::page(StatusCode::NOT_FOUND, "There is nothing here, or you may not see it.")
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = ErrorPage { chrome: Chrome::anonymous(), status: self.status.to_string(), message: self.message };
        let mut response = render(&page);
        *response.status_mut() = self.status;
        response
    }
}

impl From<ApiV0Error> for UiError {
    fn from(e: ApiV0Error) -> UiError {
        UiError { status: e.status, message: e.message().to_owned() }
    }
}

macro_rules! ui_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for UiError {
            fn from(e: $t) -> UiError {
                UiError::from(ApiV0Error::from(e))
            }
        }
    )*};
}
ui_error_from!(berth_auth::Error, berth_registry::Error, berth_services::ClusterError);
