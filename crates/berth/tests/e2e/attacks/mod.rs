//! The registry tried as an attacker would, through its public interfaces: a restricted
//! token against every management endpoint, refresh tokens after revocation, a second
//! trust collection, a copy of the metadata, guessed passwords from one address and from
//! many, slow and numerous connections, names that read as hosts, forged headers. One
//! test per invariant of `../shared/docs/security.md` as issue 9 numbers them.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

pub(super) const PASSWORD: &str = "a long enough passphrase";

/// Sends `method path` with Basic `user:secret`; the status and the JSON body (or Null).
pub(super) async fn call(server: &Server, user: &str, secret: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client_as(user, secret).request(method, server.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sends `method path` with a bearer token.
pub(super) async fn bearer(server: &Server, token: &str, method: Method, path: &str, body: Option<Value>) -> u16 {
    let mut request = anonymous().request(method, server.url(path)).header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

pub(super) async fn user(server: &Server, name: &str) {
    let (status, body) =
        call(server, "admin", ADMIN_PASSWORD, Method::POST, "/api/v0/accounts", Some(json!({"name": name, "password": PASSWORD}))).await;
    assert_eq!(status, 201, "{body}");
}

/// An access token of `user` made with `secret`, limited as `spec` says.
pub(super) async fn token(server: &Server, user: &str, secret: &str, spec: Value) -> (String, String) {
    let (status, body) = call(server, user, secret, Method::POST, &format!("/api/v0/accounts/{user}/tokens"), Some(spec)).await;
    assert_eq!(status, 201, "{body}");
    (body["token"].as_str().unwrap().to_owned(), body["id"].as_str().unwrap().to_owned())
}

/// A bearer token from `GET /auth/token` for `scope`, obtained with Basic `user:secret`.
pub(super) async fn jwt(server: &Server, user: &str, secret: &str, scope: &str) -> String {
    let response = client_as(user, secret).get(server.url(&format!("/auth/token?service=berth&scope={scope}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

/// The `access` claim of a JWT, as (name, actions) pairs.
pub(super) fn granted(token: &str) -> Vec<(String, Vec<String>)> {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["actions"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect(),
            )
        })
        .collect()
}

/// The grants `granted` should find: (repository, actions).
pub(super) fn grants(name: &str, actions: &[&str]) -> Vec<(String, Vec<String>)> {
    vec![(name.to_owned(), actions.iter().map(|a| a.to_string()).collect())]
}

/// Reads an HTTP answer from `stream` until its body names `code` (or the peer closes).
pub(super) fn read_answer(stream: &mut std::net::TcpStream, code: &str) -> String {
    use std::io::Read;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if String::from_utf8_lossy(&answer).contains(code) {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A client whose connections come from `source` (any 127/8 address reaches the server).
pub(super) fn client_from(source: &str, user: &str, secret: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, basic(user, secret).parse().unwrap());
    let source: IpAddr = source.parse().unwrap();
    reqwest::Client::builder().local_address(source).timeout(Duration::from_secs(120)).default_headers(headers).build().unwrap()
}

/// Asserts that none of `secrets` appears in the server's log.
pub(super) fn assert_not_logged(server: &Server, secrets: &[&str]) {
    let log = server.log();
    assert!(!log.is_empty());
    for secret in secrets {
        assert!(!log.contains(secret), "a secret was logged: {}…", &secret[..secret.len().min(12)]);
    }
}

mod credentials;
mod limits;
mod names;
