//! A small registry client: the requests of the distribution protocol the workload needs, with
//! Basic or Bearer-token authentication found from the registry's own challenge.
//!
//! Every failure names the request that misbehaved (method, URL, status, the start of the body).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use reqwest::{Method, StatusCode, header};

/// Which HTTP the client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpVersion {
    /// HTTP/1.1 in clear; over TLS, HTTP/2 when the server offers it (as docker does).
    Auto,
    #[value(name = "1.1")]
    Http1,
    #[value(name = "2")]
    Http2,
}

/// How to authenticate, decided once from `GET /v2/`.
#[derive(Clone, Debug, PartialEq)]
enum Auth {
    None,
    Basic(String),
    Token { realm: String, service: String, user: String, password: String },
}

/// A registry at one base URL.
pub struct Registry {
    pub base: String,
    pub http: reqwest::Client,
    auth: Auth,
    /// Bearer tokens by scope, with when they were fetched.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// Tokens are fetched again after this long (registries hand out tokens of at least 5 minutes).
const TOKEN_REUSE: Duration = Duration::from_secs(60);

/// What the scope of a request is, for Bearer tokens.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    Pull(&'a str),
    Push(&'a str),
    Catalog,
}

impl Scope<'_> {
    fn text(self) -> String {
        match self {
            Scope::Pull(repo) => format!("repository:{repo}:pull"),
            Scope::Push(repo) => format!("repository:{repo}:pull,push"),
            Scope::Catalog => "registry:catalog:*".to_owned(),
        }
    }
}

impl Registry {
    /// Connects to `base`, learns how it wants to be authenticated, and checks the credentials work.
    /// `force_basic` sends Basic credentials on every request even where the registry offers tokens.
    pub async fn connect(
        base: &str,
        credentials: Option<(&str, &str)>,
        force_basic: bool,
        ca_pem: Option<&[u8]>,
        http: HttpVersion,
    ) -> anyhow::Result<Registry> {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(600)).pool_max_idle_per_host(256).tcp_nodelay(true);
        builder = match http {
            HttpVersion::Auto => builder,
            HttpVersion::Http1 => builder.http1_only(),
            // Over TLS, ALPN offers only h2; over plain HTTP, h2 without upgrade (prior knowledge).
            HttpVersion::Http2 => builder.http2_prior_knowledge(),
        };
        // HTTP/2 flow-control windows as Go's client (docker, containerd, skopeo) opens them:
        // 4 MiB per stream, 1 GiB per connection; frames stay at the protocol's default 16 KiB.
        builder = builder.http2_initial_stream_window_size(4 << 20).http2_initial_connection_window_size(1 << 30);
        if let Some(pem) = ca_pem {
            builder = builder.tls_certs_merge([reqwest::Certificate::from_pem(pem).context("reading the CA")?]);
        }
        let http = builder.build()?;
        let base = base.trim_end_matches('/').to_owned();
        let basic = |(user, password): (&str, &str)| Auth::Basic(basic_header(user, password));
        let auth = match credentials {
            None => Auth::None,
            Some(creds) if force_basic => basic(creds),
            Some((user, password)) => {
                let response = http.get(format!("{base}/v2/")).send().await.with_context(|| format!("GET {base}/v2/"))?;
                let challenge =
                    response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                match challenge_params(&challenge, "Bearer") {
                    Some(params) => Auth::Token {
                        realm: params.get("realm").cloned().ok_or_else(|| anyhow!("Bearer challenge without realm: {challenge}"))?,
                        service: params.get("service").cloned().unwrap_or_default(),
                        user: user.to_owned(),
                        password: password.to_owned(),
                    },
                    None => basic((user, password)),
                }
            }
        };
        let registry = Registry { base, http, auth, tokens: Mutex::new(HashMap::new()) };
        let response = registry.send(Method::GET, "/v2/", Scope::Catalog, |r| r).await?;
        // Anonymous clients may be refused the base endpoint yet read public repositories.
        let ok: &[StatusCode] = if registry.auth == Auth::None { &[StatusCode::OK, StatusCode::UNAUTHORIZED] } else { &[StatusCode::OK] };
        expect(response, ok, "GET /v2/").await?;
        Ok(registry)
    }

    /// Which authentication is in use: `none`, `basic` or `token`.
    pub fn auth_kind(&self) -> &'static str {
        match self.auth {
            Auth::None => "none",
            Auth::Basic(_) => "basic",
            Auth::Token { .. } => "token",
        }
    }

    /// The `Authorization` header for `scope`, fetching a token when needed.
    async fn authorization(&self, scope: Scope<'_>) -> anyhow::Result<Option<String>> {
        let (realm, service, user, password) = match &self.auth {
            Auth::None => return Ok(None),
            Auth::Basic(value) => return Ok(Some(value.clone())),
            Auth::Token { realm, service, user, password } => (realm, service, user, password),
        };
        let scope = scope.text();
        if let Some((token, at)) = self.tokens.lock().map_err(|_| anyhow!("token cache poisoned"))?.get(&scope)
            && at.elapsed() < TOKEN_REUSE
        {
            return Ok(Some(format!("Bearer {token}")));
        }
        let query = form_urlencoded::Serializer::new(String::new()).append_pair("service", service).append_pair("scope", &scope).finish();
        let response = self
            .http
            .get(with_query(realm, &query))
            .basic_auth(user, Some(password))
            .send()
            .await
            .with_context(|| format!("GET {realm} (token for {scope})"))?;
        let response = expect(response, &[StatusCode::OK], &format!("GET {realm} (token for {scope})")).await?;
        let body: serde_json::Value = response.json().await?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| anyhow!("token response without a token: {body}"))?
            .to_owned();
        self.tokens.lock().map_err(|_| anyhow!("token cache poisoned"))?.insert(scope, (token.clone(), Instant::now()));
        Ok(Some(format!("Bearer {token}")))
    }

    /// Sends `method` to `path` (relative to the base, or an absolute URL from a `Location`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        scope: Scope<'_>,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let url = self.url(path);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(value) = self.authorization(scope).await? {
            request = request.header(header::AUTHORIZATION, value);
        }
        build(request).send().await.with_context(|| format!("{method} {url}"))
    }

    /// `path` made absolute.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    /// `HEAD` of a blob: whether the registry has it.
    pub async fn has_blob(&self, repo: &str, digest: &str) -> anyhow::Result<bool> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let response = self.send(Method::HEAD, &path, Scope::Push(repo), |r| r).await?;
        let response = expect(response, &[StatusCode::OK, StatusCode::NOT_FOUND], &format!("HEAD {path}")).await?;
        Ok(response.status() == StatusCode::OK)
    }

    /// Starts an upload (`POST /v2/<repo>/blobs/uploads/`); returns its `Location`.
    pub async fn start_upload(&self, repo: &str) -> anyhow::Result<String> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let response = self.send(Method::POST, &path, Scope::Push(repo), |r| r).await?;
        let response = expect(response, &[StatusCode::ACCEPTED], &format!("POST {path}")).await?;
        location(&response, &format!("POST {path}"))
    }

    /// Pushes a small blob as docker does: `POST`, then `PUT ?digest=` with the body.
    pub async fn push_blob(&self, repo: &str, digest: &str, bytes: bytes::Bytes) -> anyhow::Result<()> {
        let location = self.start_upload(repo).await?;
        let url = with_query(&self.url(&location), &format!("digest={digest}"));
        let response = self
            .send(Method::PUT, &url, Scope::Push(repo), |r| r.header(header::CONTENT_TYPE, "application/octet-stream").body(bytes))
            .await?;
        expect(response, &[StatusCode::CREATED], &format!("PUT {url}")).await?;
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<reference>`.
    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: bytes::Bytes) -> anyhow::Result<()> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self.send(Method::PUT, &path, Scope::Push(repo), |r| r.header(header::CONTENT_TYPE, media_type).body(body)).await?;
        expect(response, &[StatusCode::CREATED], &format!("PUT {path}")).await?;
        Ok(())
    }

    /// `GET /v2/<repo>/manifests/<reference>`; returns the body.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> anyhow::Result<bytes::Bytes> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self.send(Method::GET, &path, Scope::Pull(repo), |r| r.header(header::ACCEPT, ACCEPT)).await?;
        let response = expect(response, &[StatusCode::OK], &format!("GET {path}")).await?;
        Ok(response.bytes().await?)
    }

    /// Follows a paged listing (`Link: <…>; rel="next"`) from `first`; returns every page's body.
    pub async fn pages(&self, first: &str, scope: Scope<'_>) -> anyhow::Result<Vec<serde_json::Value>> {
        let mut next = Some(first.to_owned());
        let mut pages = Vec::new();
        while let Some(path) = next.take() {
            let response = self.send(Method::GET, &path, scope, |r| r).await?;
            let response = expect(response, &[StatusCode::OK], &format!("GET {path}")).await?;
            next = response
                .headers()
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|link| link.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(target, _)| target.to_owned());
            pages.push(response.json().await.with_context(|| format!("GET {path}: not JSON"))?);
            if pages.len() > 100_000 {
                bail!("GET {first}: more than 100,000 pages; the Link header loops");
            }
        }
        Ok(pages)
    }
}

/// The `Accept` header docker sends for manifests.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
                          application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Returns the response when its status is one of `ok`, or an error naming `what`, the status and the body.
pub async fn expect(response: reqwest::Response, ok: &[StatusCode], what: &str) -> anyhow::Result<reqwest::Response> {
    if ok.contains(&response.status()) {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(500).collect();
    bail!("{what}: expected {ok:?}, got {status}: {body}")
}

/// The `Location` header of `response`.
pub fn location(response: &reqwest::Response, what: &str) -> anyhow::Result<String> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{what}: no Location header"))
}

/// `url` with `query` appended.
pub fn with_query(url: &str, query: &str) -> String {
    if url.contains('?') { format!("{url}&{query}") } else { format!("{url}?{query}") }
}

fn basic_header(user: &str, password: &str) -> String {
    use std::fmt::Write as _;
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = write!(out, "{}", TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The parameters of a `WWW-Authenticate` challenge of `scheme`.
fn challenge_params(challenge: &str, scheme: &str) -> Option<HashMap<String, String>> {
    let rest = challenge.strip_prefix(scheme)?.trim_start();
    let mut params = HashMap::new();
    let mut rest = rest;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.insert(key, value.to_owned());
        rest = after;
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_base64() {
        assert_eq!(basic_header("admin", "pw"), "Basic YWRtaW46cHc=");
        assert_eq!(basic_header("a", "b"), "Basic YTpi");
        assert_eq!(basic_header("ab", "cd"), "Basic YWI6Y2Q=");
    }

    #[test]
    fn challenges_are_parsed() {
        let p = challenge_params(r#"Bearer realm="https://h/auth/token",service="berth",scope="repository:a/b:pull""#, "Bearer").unwrap();
        assert_eq!(p["realm"], "https://h/auth/token");
        assert_eq!(p["service"], "berth");
        assert_eq!(p["scope"], "repository:a/b:pull");
        assert!(challenge_params(r#"Basic realm="x""#, "Bearer").is_none());
    }
}
