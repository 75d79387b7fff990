//! How an administration command reaches the server: the connection options, the API
//! client (typed by the API's own response bodies), and its failures with their exit codes.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The environment the administration commands read, shown in their `--help`.
pub const ENVIRONMENT: &str = "\
Environment:
  BERTH_PASSWORD  the password (or an access token) of --user; never a flag, so `ps` cannot show it
  BERTH_URL, BERTH_USER, BERTH_CACERT  as the options above

Exit codes: 0 done; 1 the server refused or failed (its error code is printed);
2 bad usage or no BERTH_PASSWORD; 3 the server could not be reached.";

/// How to reach the server, and how to print its answers.
#[derive(Args, Clone, Debug)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, env = "BERTH_URL", default_value = "https://localhost:5443", global = true)]
    server: String,
    /// The account to act as (its password, or an access token, in BERTH_PASSWORD).
    #[arg(long = "user", env = "BERTH_USER", default_value = "admin", global = true)]
    acting_user: String,
    /// CA certificate to trust for the server [default: ./berth-data/tls/ca.crt when it exists].
    #[arg(long, env = "BERTH_CACERT", global = true)]
    cacert: Option<PathBuf>,
    /// Print the API's JSON instead of tables and sentences.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Why an administration command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No password to act with.
    #[error("set BERTH_PASSWORD to the password (or an access token) of {0}")]
    NoPassword(String),
    /// Bad input caught before asking the server.
    #[error("{0}")]
    Usage(String),
    /// No answer.
    #[error("cannot reach {url}: {cause}")]
    Unreachable {
        /// The server.
        url: String,
        /// Why.
        cause: String,
    },
    /// The server answered with an error.
    #[error("{message} ({code}, HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// Anything else (reading a file, writing the output, an answer that does not parse).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl AdminError {
    /// The documented exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::NoPassword(_) | AdminError::Usage(_) => 2,
            AdminError::Unreachable { .. } => 3,
            AdminError::Refused { .. } | AdminError::Other(_) => 1,
        }
    }
}

/// An API client for one invocation.
pub struct Client {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// Connects (lazily) to the server described by `connection`.
    pub fn new(connection: &Connection) -> Result<Client, AdminError> {
        let password = std::env::var("BERTH_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| AdminError::NoPassword(connection.acting_user.clone()))?;
        let mut builder = reqwest::Client::builder();
        let cacert = connection.cacert.clone().or_else(|| Some(PathBuf::from("berth-data/tls/ca.crt")).filter(|p| p.exists()));
        if let Some(path) = cacert {
            let pem = std::fs::read(&path).map_err(|e| AdminError::Usage(format!("reading {}: {e}", path.display())))?;
            let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| AdminError::Usage(format!("{}: {e}", path.display())))?;
            builder = builder.tls_certs_merge([ca]);
        }
        Ok(Client {
            http: builder.build().map_err(anyhow::Error::from)?,
            base: connection.server.trim_end_matches('/').to_owned(),
            user: connection.acting_user.clone(),
            password,
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?,
        })
    }

    /// Sends a request to `/api/v0{path}?{query}`; the response, or the server's error.
    /// `path` holds names given on the command line: one that would change which
    /// operation the URL names (`..`, `?`, `#`, `%`) is refused before anything is sent.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response, AdminError> {
        let steers = |segment: &str| segment == "." || segment == ".." || segment.contains(['?', '#', '%', '\\']);
        if path.split('/').any(steers) || path.chars().any(char::is_control) {
            return Err(AdminError::Usage(format!("{path:?}: a name here cannot hold \"..\", ?, #, % or \\")));
        }
        self.runtime.block_on(async {
            let mut url = format!("{}/api/v0{path}", self.base);
            if !query.is_empty() {
                url = format!("{url}?{}", form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish());
            }
            let mut request = self.http.request(method, url).basic_auth(&self.user, Some(&self.password));
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| AdminError::Unreachable { url: self.base.clone(), cause: cause(&e) })?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let envelope: Option<crate::http::api_v0::model::ErrorBody> = serde_json::from_str(&text).ok();
            let first = envelope.and_then(|e| e.errors.into_iter().next());
            Err(match first {
                Some(error) => AdminError::Refused { status, code: error.code, message: error.message },
                None => AdminError::Refused { status, code: "?".into(), message: text },
            })
        })
    }

    /// A request whose answer is the JSON body `T`; also returns that JSON as it came.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(T, serde_json::Value), AdminError> {
        self.parse(self.request(method, path, &[], body)?)
    }

    /// A response's JSON body as `T`, and as it came.
    pub fn parse<T: DeserializeOwned>(&self, response: reqwest::Response) -> Result<(T, serde_json::Value), AdminError> {
        let path = response.url().path().to_owned();
        let value: serde_json::Value = self.runtime.block_on(response.json()).map_err(anyhow::Error::from)?;
        let typed =
            serde_json::from_value(value.clone()).map_err(|e| anyhow::anyhow!("the server's answer to {path} does not parse: {e}"))?;
        Ok((typed, value))
    }

    /// `GET` a JSON body.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, serde_json::Value), AdminError> {
        self.call(reqwest::Method::GET, path, None::<&()>)
    }

    /// A request answered with no body worth reading (`204`, `{}`).
    pub fn send(&self, method: reqwest::Method, path: &str, body: Option<&impl Serialize>) -> Result<(), AdminError> {
        self.request(method, path, &[], body).map(|_| ())
    }

    /// Every item of a paged listing (`start`/`limit`), page after page while the server's
    /// `Link` names a next one.
    pub fn all_pages<P: DeserializeOwned>(
        &self,
        path: &str,
        items: impl Fn(P) -> Vec<serde_json::Value>,
        name: impl Fn(&serde_json::Value) -> String,
    ) -> Result<Vec<serde_json::Value>, AdminError> {
        let mut all = Vec::new();
        let mut start = String::new();
        loop {
            let query = [("limit", "1000".to_owned()), ("start", start.clone())];
            let response = self.request(reqwest::Method::GET, path, &query, None::<&()>)?;
            let more =
                response.headers().get(reqwest::header::LINK).and_then(|l| l.to_str().ok()).is_some_and(|l| l.contains("rel=\"next\""));
            let page: P =
                self.runtime.block_on(response.json()).map_err(|e| anyhow::anyhow!("the server's answer to {path} does not parse: {e}"))?;
            let page = items(page);
            let last = page.last().map(&name);
            all.extend(page);
            match last {
                Some(last) if more => start = last,
                _ => return Ok(all),
            }
        }
    }

    /// Streams the body of a GET to `out`, showing progress on standard error.
    pub fn download(&self, path: &str, query: &[(&str, String)], out: &mut impl std::io::Write) -> Result<u64, AdminError> {
        use futures_util::StreamExt as _;
        let response = self.request(reqwest::Method::GET, path, query, None::<&()>)?;
        self.runtime.block_on(async {
            let total = response.content_length();
            let mut body = response.bytes_stream();
            let (mut received, mut shown, started) = (0u64, std::time::Instant::now(), std::time::Instant::now());
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.map_err(|_| anyhow::anyhow!("the stream broke off; the file is incomplete and a restore will refuse it"))?;
                out.write_all(&chunk).map_err(anyhow::Error::from)?;
                received += chunk.len() as u64;
                if shown.elapsed() >= std::time::Duration::from_millis(250) {
                    progress(received, total, started.elapsed());
                    shown = std::time::Instant::now();
                }
            }
            out.flush().map_err(anyhow::Error::from)?;
            progress(received, total, started.elapsed());
            eprintln!();
            if let Some(total) = total.filter(|t| *t != received) {
                return Err(anyhow::anyhow!("the stream ended after {received} of {total} bytes; the file is incomplete").into());
            }
            Ok(received)
        })
    }
}

/// The innermost cause of a transport failure (reqwest's outer message names only the URL).
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// One progress line on standard error, redrawn in place.
fn progress(received: u64, total: Option<u64>, elapsed: std::time::Duration) {
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let rate = mib(received) / elapsed.as_secs_f64().max(0.001);
    match total {
        Some(total) if total > 0 => {
            let percent = received as f64 * 100.0 / total as f64;
            let bar = "#".repeat((percent / 5.0) as usize);
            eprint!("\r[{bar:<20}] {percent:5.1}%  {:.1} / {:.1} MiB  {rate:.1} MiB/s", mib(received), mib(total));
        }
        _ => eprint!("\r{:.1} MiB  {rate:.1} MiB/s", mib(received)),
    }
}
