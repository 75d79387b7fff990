//! Signing in and out.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{COOKIE, Chrome, UiError, Viewer, render, session_cookie};
use crate::app::AppState;
use crate::serve::Peer;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a path of this site: never a redirect elsewhere.
fn local(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).unwrap_or_else(|| "/repositories".into())
}

/// `GET /login`.
pub async fn form(Query(query): Query<Next>) -> Response {
    render(&LoginPage { chrome: Chrome::anonymous(), next: local(query.next) })
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: a session cookie and the page asked for, or the form again with one
/// message for every failure.
pub async fn sign_in(State(app): State<AppState>, peer: Option<axum::Extension<Peer>>, Form(form): Form<Credentials>) -> Response {
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
        Err(e) => {
            let (status, problem) = match e {
                berth_auth::Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "Wrong user name or password.".to_owned()),
                other => {
                    let error = UiError::from(other);
                    (error.status, error.message)
                }
            };
            let mut chrome = Chrome::anonymous();
            chrome.problem = Some(problem);
            let mut response = render(&LoginPage { chrome, next: local(form.next) });
            *response.status_mut() = status;
            response
        }
    }
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
