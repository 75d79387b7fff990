//! The web UI's sessions over plain HTTPS, as an attacker would probe them: the cookie's
//! attributes and the page headers, a forged or old cookie, a password change or a
//! deactivation ending every session, and redirects that never leave the site.

use serde_json::json;

use crate::harness::*;

/// An HTTPS client that keeps no cookies and follows no redirects.
fn browserless() -> reqwest::Client {
    reqwest::Client::builder().danger_accept_invalid_certs(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in through the form; the `Set-Cookie` header and the session cookie.
async fn sign_in(server: &Server, user: &str, password: &str, next: &str) -> (reqwest::Response, String) {
    let http = browserless();
    let (form_cookie, csrf) = login_form(&http, &server.https).await;
    let response = http
        .post(format!("{}/login", server.https))
        .header("cookie", form_cookie)
        .form(&[("username", user), ("password", password), ("next", next), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let set = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let cookie = set.strip_prefix("berth_session=").and_then(|rest| rest.split(';').next()).unwrap_or_default().to_owned();
    (response, cookie)
}

/// The status of `GET path` with `cookie`, and where it redirects to.
async fn visit(server: &Server, path: &str, cookie: &str) -> (u16, String) {
    let response =
        browserless().get(format!("{}{path}", server.https)).header("cookie", format!("berth_session={cookie}")).send().await.unwrap();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (response.status().as_u16(), location)
}

#[tokio::test]
async fn sessions_are_strict_cookies_that_end_with_the_password() {
    let server = Server::start();
    let admin = client();
    let created =
        admin.post(server.url("/api/v0/accounts")).json(&json!({"name": "erin", "password": "erin-password-1"})).send().await.unwrap();
    assert_eq!(created.status(), 201);

    // Pages need a session; the sign-in redirect keeps the page asked for.
    let (status, location) = visit(&server, "/repositories?q=a", "").await;
    assert_eq!((status, location.as_str()), (303, "/login?next=%2Frepositories%3Fq%3Da"));

    // A wrong password: no cookie.
    let (response, cookie) = sign_in(&server, "erin", "not it", "/tokens").await;
    assert_eq!(response.status(), 401);
    assert!(cookie.is_empty());

    // The sign-in form binds its token to a strict cookie of its own; a form posted from
    // elsewhere (no cookie, no token, or another form's token) tries no password.
    let http = browserless();
    let (form_cookie, csrf) = login_form(&http, &server.https).await;
    let page = http.get(format!("{}/login", server.https)).send().await.unwrap();
    let set = page.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("__Host-berth_login="), "{set}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/;"] {
        assert!(set.contains(attribute), "{attribute} missing from the form's cookie {set}");
    }
    let (_, other_csrf) = login_form(&http, &server.https).await;
    assert_ne!(csrf, other_csrf, "each form has its own token");
    let password = ("password", "erin-password-1");
    for (cookie, fields) in [
        (None, vec![("username", "erin"), password]),
        (None, vec![("username", "erin"), password, ("csrf", csrf.as_str())]),
        (Some(form_cookie.as_str()), vec![("username", "erin"), password]),
        (Some(form_cookie.as_str()), vec![("username", "erin"), password, ("csrf", other_csrf.as_str())]),
        // A cookie and token of the attacker's choosing are not Berth's.
        (Some("__Host-berth_login=x"), vec![("username", "erin"), password, ("csrf", "x")]),
    ] {
        let mut request = http.post(format!("{}/login", server.https)).form(&fields);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{cookie:?} {fields:?}");
        let session = response.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("berth_session="));
        assert!(!session, "a forged sign-in made a session");
    }

    // The right one: a strict cookie, and the page asked for (only ever on this site).
    let (response, cookie) = sign_in(&server, "erin", "erin-password-1", "/tokens").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/tokens");
    let set = response.headers()["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{attribute} missing from {set}");
    }
    for elsewhere in ["https://evil.example/", "//evil.example/", "/\\evil.example"] {
        let (response, _) = sign_in(&server, "erin", "erin-password-1", elsewhere).await;
        assert_eq!(response.headers()["location"], "/repositories", "{elsewhere}");
    }

    // A page: its headers forbid scripts, framing and caching.
    let page =
        browserless().get(format!("{}/tokens", server.https)).header("cookie", format!("berth_session={cookie}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.text().await.unwrap().contains("Signed in as"));

    // Forged cookies: another secret for the same session id, garbage, an empty one.
    let (id, secret) = cookie.split_once('.').unwrap();
    let flipped = format!("{}{}", if secret.starts_with('0') { '1' } else { '0' }, &secret[1..]);
    for forged in [format!("{id}.{flipped}"), "garbage".into(), format!("{id}."), String::new()] {
        assert_eq!(visit(&server, "/tokens", &forged).await.0, 303, "{forged}");
    }

    // Changing the password ends the session; so does a deactivation.
    let changed = client_as("erin", "erin-password-1")
        .patch(server.url("/api/v0/accounts/erin"))
        .json(&json!({"password": "erin-password-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(visit(&server, "/tokens", &cookie).await.0, 303, "the session outlived a password change");
    let (_, cookie) = sign_in(&server, "erin", "erin-password-2", "/").await;
    assert_eq!(visit(&server, "/tokens", &cookie).await.0, 200);
    let deactivated = admin.patch(server.url("/api/v0/accounts/erin")).json(&json!({"isActive": false})).send().await.unwrap();
    assert_eq!(deactivated.status(), 200);
    assert_eq!(visit(&server, "/tokens", &cookie).await.0, 303, "the session outlived a deactivation");
    let (response, _) = sign_in(&server, "erin", "erin-password-2", "/").await;
    assert_eq!(response.status(), 401, "a deactivated user signs in");

    // Sessions are not credentials for the API.
    let (_, admin_cookie) = sign_in(&server, "admin", ADMIN_PASSWORD, "/").await;
    let api = browserless()
        .get(format!("{}/api/v0/accounts", server.https))
        .header("cookie", format!("berth_session={admin_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}
