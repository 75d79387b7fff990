//! Signing in and out.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{COOKIE, Chrome, UiError, Viewer, cookie, render, session_cookie};
use crate::app::AppState;
use crate::serve::Peer;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    csrf: String,
}

/// The sign-in form's CSRF cookie (see `berth_auth::session::new_form_token`). The
/// `__Host-` prefix makes browsers refuse it from a response that names a domain, so a
/// sibling site cannot plant a token of its choosing.
const FORM_COOKIE: &str = "__Host-berth_login";

/// The form cookie's value, when it is one Berth could have made (32 hex digits).
fn form_token(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie(headers, FORM_COOKIE).filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Sets the form cookie on `response`.
fn set_form_cookie(response: &mut Response, token: &str) {
    let set = format!("{FORM_COOKIE}={token}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&set) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a path of this site: never a redirect elsewhere.
fn local(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).unwrap_or_else(|| "/repositories".into())
}

/// `GET /login`: the form, and its CSRF cookie (the one already set, while it lasts).
pub async fn form(Query(query): Query<Next>, headers: axum::http::HeaderMap) -> Response {
    let csrf = form_token(&headers).unwrap_or_else(berth_auth::session::new_form_token);
    let mut response = render(&LoginPage { chrome: Chrome::anonymous(), next: local(query.next), csrf: csrf.clone() });
    set_form_cookie(&mut response, &csrf);
    response
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: a session cookie and the page asked for, or the form again with one
/// message for every failure.
pub async fn sign_in(
    State(app): State<AppState>,
    peer: Option<axum::Extension<Peer>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let expected = form_token(&headers).unwrap_or_default();
    let again = |status: StatusCode, problem: String| {
        let mut chrome = Chrome::anonymous();
        chrome.problem = Some(problem);
        let mut response = render(&LoginPage { chrome, next: local(form.next.clone()), csrf: expected.clone() });
        *response.status_mut() = status;
        response
    };
    if expected.is_empty() || !berth_auth::session::csrf_matches(&expected, &form.csrf) {
        // No password is tried: the form did not come from this site (or is over an hour old).
        return form_again(&form.next);
    }
    let source = peer.map(|p| p.0.0.ip());
    match app.auth.sign_in(&form.username, &form.password, source).await {
        Ok(session) => {
            let cookie = format!("{COOKIE}={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict", session.cookie, session.lifetime);
            let mut response = Redirect::to(&local(form.next)).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(berth_auth::Error::InvalidCredentials) => again(StatusCode::UNAUTHORIZED, "Wrong user name or password.".to_owned()),
        Err(other) => {
            let error = UiError::from(other);
            again(error.status, error.message)
        }
    }
}

/// A sign-in whose CSRF token is missing or wrong: a 403 and a fresh form to try again.
fn form_again(next: &Option<String>) -> Response {
    let csrf = berth_auth::session::new_form_token();
    let mut chrome = Chrome::anonymous();
    chrome.problem = Some("This form has expired or did not come from Berth; sign in again.".to_owned());
    let mut response = render(&LoginPage { chrome, next: local(next.clone()), csrf: csrf.clone() });
    *response.status_mut() = StatusCode::FORBIDDEN;
    set_form_cookie(&mut response, &csrf);
    response
}

#[derive(Deserialize)]
pub struct Csrf {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: ends the session everywhere and forgets the cookie.
pub async fn sign_out(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: axum::http::HeaderMap,
    Form(form): Form<Csrf>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    app.auth.sign_out(&session_cookie(&headers).unwrap_or_default()).await?;
    let mut response = Redirect::to("/login").into_response();
    let expired = format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(super::local(Some("/repositories/a/b".into())), "/repositories/a/b");
        for outside in ["https://evil.example", "//evil.example", "/\\evil.example", "evil"] {
            assert_eq!(super::local(Some(outside.into())), "/repositories", "{outside}");
        }
    }
}
