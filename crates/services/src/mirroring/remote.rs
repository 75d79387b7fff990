//! A client of a remote registry's v2 API, for one repository there: authentication as
//! registries ask for it (Basic, or the token service a `Bearer` challenge names), blob
//! and manifest pushes streamed from local storage, and pulls streamed into local
//! uploads. Every body is checked against its digest: the remote's answers are not
//! trusted.

use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use berth_core::{Digest, Manifest, Reference, RepositoryName};
use berth_registry::Registry;
use futures_util::TryStreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::outbound::describe;

/// The manifest types asked for.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
/// The largest manifest read from a remote.
const MAX_MANIFEST: usize = 4 << 20;
/// The most tags read from a remote repository.
const MAX_TAGS: usize = 10_000;
/// How deep indexes may nest.
const MAX_DEPTH: usize = 4;
/// The most of an error answer kept.
const ERROR_CHARS: usize = 300;

/// A remote repository, as one policy reaches it.
pub(crate) struct Remote {
    http: reqwest::Client,
    /// `https://host[:port]`.
    base: String,
    repository: String,
    credentials: Option<(String, String)>,
    /// The `Authorization` value the last challenge earned.
    authorization: tokio::sync::Mutex<Option<String>>,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The `key="value"` parameters of a `WWW-Authenticate` challenge.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = challenge.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            let value = &quoted[..end];
            rest = quoted.get(end + 1..).unwrap_or("");
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = &rest[..end];
            rest = &rest[end..];
            value.trim()
        };
        out.push((key, value.to_owned()));
        rest = rest.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// What a failed answer says, shortened.
async fn failure(what: &str, response: Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(ERROR_CHARS).collect();
    format!("{what}: the remote answered {status}: {}", body.trim())
}

impl Remote {
    pub(crate) fn new(http: reqwest::Client, base: &str, repository: &str, credentials: Option<(String, String)>) -> Remote {
        Remote {
            http,
            base: base.trim_end_matches('/').to_owned(),
            repository: repository.to_owned(),
            credentials,
            authorization: tokio::sync::Mutex::new(None),
        }
    }

    /// The remote repository, as `host/repository`.
    pub(crate) fn describe(&self) -> String {
        let host = self.base.split_once("://").map_or(self.base.as_str(), |(_, h)| h);
        format!("{host}/{}", self.repository)
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// Sends a request (one without a streamed body, so it can be sent again), answering
    /// one authentication challenge.
    async fn send(&self, make: impl Fn(&reqwest::Client) -> RequestBuilder, push: bool) -> Result<Response, String> {
        let response = self.authorized(make(&self.http)).await.send().await.map_err(|e| describe(&e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        self.authenticate(&challenge, push).await?;
        let response = self.authorized(make(&self.http)).await.send().await.map_err(|e| describe(&e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(match &self.credentials {
                Some((user, _)) => format!("{} refused the credentials of {user}", self.describe()),
                None => format!("{} asks for credentials; the policy has none", self.describe()),
            });
        }
        Ok(response)
    }

    async fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match self.authorization.lock().await.as_deref() {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        }
    }

    /// Earns an `Authorization` value for the challenge: the credentials themselves for
    /// Basic, a token from the named token service for Bearer.
    async fn authenticate(&self, challenge: &str, push: bool) -> Result<(), String> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let value = match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let Some((user, password)) = &self.credentials else {
                    return Err(format!("{} asks for credentials; the policy has none", self.describe()));
                };
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
            }
            "bearer" => format!("Bearer {}", self.token(&challenge_params(params), push).await?),
            _ => return Err(format!("{} answered 401 with no challenge Berth knows ({challenge:?})", self.describe())),
        };
        *self.authorization.lock().await = Some(value);
        Ok(())
    }

    /// A token for this repository from the token service of a Bearer challenge.
    async fn token(&self, params: &[(String, String)], push: bool) -> Result<String, String> {
        let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let realm = get("realm").ok_or_else(|| "the remote's Bearer challenge names no realm".to_owned())?;
        let actions = if push { "pull,push" } else { "pull" };
        let scope = format!("repository:{}:{actions}", self.repository);
        let mut url = reqwest::Url::parse(realm).map_err(|e| format!("the remote's token realm {realm:?}: {e}"))?;
        url.query_pairs_mut().append_pair("scope", &scope);
        if let Some(service) = get("service") {
            url.query_pairs_mut().append_pair("service", service);
        }
        let mut request = self.http.get(url);
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| format!("the remote's token service: {}", describe(&e)))?;
        if !response.status().is_success() {
            return Err(failure("the remote's token service", response).await);
        }
        let body: serde_json::Value = response.json().await.map_err(|e| format!("the remote's token service: {}", describe(&e)))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| "the remote's token service gave no token".to_owned())
    }

    /// Whether the remote repository has the blob.
    async fn has_blob(&self, digest: &Digest, push: bool) -> Result<bool, String> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|http| http.head(&url), push).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(failure(&format!("checking blob {digest}"), response).await),
        }
    }

    /// The digest the remote's `reference` points at, if it exists.
    async fn manifest_digest(&self, reference: &str, push: bool) -> Result<Option<String>, String> {
        let url = self.url(&format!("manifests/{reference}"));
        let response = self.send(|http| http.head(&url).header(ACCEPT, ACCEPT_MANIFESTS), push).await?;
        match response.status() {
            s if s.is_success() => Ok(response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_owned)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(failure(&format!("checking manifest {reference}"), response).await),
        }
    }

    /// Pushes manifest `digest` of the local `repository` as `tag`: the manifests an index
    /// lists first, then every blob the remote lacks, then the manifest itself.
    pub(crate) async fn push_image(
        &self,
        registry: &Registry,
        repository: &RepositoryName,
        digest: &Digest,
        tag: &str,
    ) -> Result<(), String> {
        self.push_manifest(registry, repository, digest, tag, 0).await
    }

    fn push_manifest<'a>(
        &'a self,
        registry: &'a Registry,
        repository: &'a RepositoryName,
        digest: &'a Digest,
        reference: &'a str,
        depth: usize,
    ) -> Boxed<'a, ()> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err("indexes nest too deep".into());
            }
            let stored =
                registry.manifest_for_mirroring(repository, digest).await.map_err(|e| format!("reading manifest {digest}: {e}"))?;
            let manifest = Manifest::parse(&stored.content, Some(&stored.media_type)).map_err(|e| format!("manifest {digest}: {e}"))?;
            for child in &manifest.children {
                if self.manifest_digest(child.as_str(), true).await?.is_none() {
                    self.push_manifest(registry, repository, child, child.as_str(), depth + 1).await?;
                }
            }
            for blob in &manifest.blobs {
                if !self.has_blob(blob, true).await? {
                    self.push_blob(registry, repository, blob).await?;
                }
            }
            let url = self.url(&format!("manifests/{reference}"));
            let (media_type, content) = (stored.media_type.clone(), stored.content.clone());
            let response = self.send(|http| http.put(&url).header(CONTENT_TYPE, media_type.as_str()).body(content.clone()), true).await?;
            if response.status() != StatusCode::CREATED && !response.status().is_success() {
                return Err(failure(&format!("pushing manifest {reference}"), response).await);
            }
            Ok(())
        })
    }

    /// Uploads one blob, streamed from local storage in one request.
    async fn push_blob(&self, registry: &Registry, repository: &RepositoryName, digest: &Digest) -> Result<(), String> {
        let start = self.url("blobs/uploads/");
        let response = self.send(|http| http.post(&start).header(CONTENT_LENGTH, "0"), true).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(failure(&format!("starting the upload of {digest}"), response).await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| "the remote started an upload without a Location".to_owned())?;
        let mut url = reqwest::Url::parse(&format!("{}/", self.base))
            .and_then(|base| base.join(location))
            .map_err(|e| format!("the remote's upload Location {location:?}: {e}"))?;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let blob = registry.open_blob(repository, digest, None).await.map_err(|e| format!("reading blob {digest}: {e}"))?;
        let request = self
            .authorized(self.http.put(url))
            .await
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.size)
            .body(reqwest::Body::wrap_stream(blob.stream));
        let response = request.send().await.map_err(|e| format!("uploading blob {digest}: {}", describe(&e)))?;
        if response.status() != StatusCode::CREATED {
            return Err(failure(&format!("uploading blob {digest}"), response).await);
        }
        Ok(())
    }

    /// The remote repository's tags (following its pages, up to a bound).
    pub(crate) async fn tags(&self) -> Result<Vec<String>, String> {
        let mut tags = Vec::new();
        let mut next = Some(self.url("tags/list?n=1000"));
        while let Some(url) = next.take() {
            let response = self.send(|http| http.get(&url), false).await.map_err(|e| format!("listing tags: {e}"))?;
            if !response.status().is_success() {
                return Err(failure("listing tags", response).await);
            }
            let link = response.headers().get("link").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body: serde_json::Value = response.json().await.map_err(|e| format!("listing tags: {}", describe(&e)))?;
            tags.extend(body["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)));
            if tags.len() >= MAX_TAGS {
                break;
            }
            // `Link: </v2/…/tags/list?n=…&last=…>; rel="next"`
            next = link
                .and_then(|l| Some(l.split_once('<')?.1.split_once('>')?.0.to_owned()))
                .map(|path| if path.starts_with('/') { format!("{}{path}", self.base) } else { path });
        }
        Ok(tags)
    }

    /// The digest the remote's `tag` points at (`None` when it is gone).
    pub(crate) async fn tag_digest(&self, tag: &str) -> Result<Option<String>, String> {
        self.manifest_digest(tag, false).await
    }

    /// Pulls the remote's manifest `digest` (what `tag` pointed at) into the local
    /// `repository`: the blobs it lacks, an index's children, then the manifest, pushed as
    /// `by` through the registry's own push path (quotas, immutability, audit).
    pub(crate) async fn pull_image(
        &self,
        registry: &Registry,
        repository: &RepositoryName,
        digest: &str,
        tag: &str,
        by: &str,
    ) -> Result<(), String> {
        let digest: Digest = digest.parse().map_err(|e| format!("the remote's digest {digest:?}: {e}"))?;
        self.pull_manifest(registry, repository, &digest, Some(tag), by, 0).await
    }

    fn pull_manifest<'a>(
        &'a self,
        registry: &'a Registry,
        repository: &'a RepositoryName,
        digest: &'a Digest,
        tag: Option<&'a str>,
        by: &'a str,
        depth: usize,
    ) -> Boxed<'a, ()> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err("indexes nest too deep".into());
            }
            let (media_type, content) = self.fetch_manifest(digest).await?;
            let manifest = Manifest::parse(&content, media_type.as_deref()).map_err(|e| format!("the remote's manifest {digest}: {e}"))?;
            for child in &manifest.children {
                if registry.manifest_for_mirroring(repository, child).await.is_err() {
                    self.pull_manifest(registry, repository, child, None, by, depth + 1).await?;
                }
            }
            for blob in &manifest.blobs {
                if registry.stat_blob(repository, blob).await.is_err() {
                    self.pull_blob(registry, repository, blob).await?;
                }
            }
            let reference = match tag {
                Some(tag) => Reference::Tag(tag.parse().map_err(|e| format!("the remote's tag {tag:?}: {e}"))?),
                None => Reference::Digest(digest.clone()),
            };
            registry
                .put_manifest(repository, &reference, media_type.as_deref(), content.to_vec(), Some(by))
                .await
                .map_err(|e| format!("storing manifest {digest}: {e}"))?;
            Ok(())
        })
    }

    /// The remote's manifest `digest`: its media type and bytes, checked against the digest.
    pub(crate) async fn fetch_manifest(&self, digest: &Digest) -> Result<(Option<String>, bytes::Bytes), String> {
        let url = self.url(&format!("manifests/{digest}"));
        let response = self.send(|http| http.get(&url).header(ACCEPT, ACCEPT_MANIFESTS), false).await?;
        if !response.status().is_success() {
            return Err(failure(&format!("pulling manifest {digest}"), response).await);
        }
        let media_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if response.content_length().is_some_and(|n| n > MAX_MANIFEST as u64) {
            return Err(format!("manifest {digest} is larger than {MAX_MANIFEST} bytes"));
        }
        let content = response.bytes().await.map_err(|e| format!("pulling manifest {digest}: {}", describe(&e)))?;
        if content.len() > MAX_MANIFEST {
            return Err(format!("manifest {digest} is larger than {MAX_MANIFEST} bytes"));
        }
        let mut hasher = berth_core::Hasher::new(digest.algorithm());
        hasher.update(&content);
        if hasher.finish() != *digest {
            return Err(format!("the remote's manifest {digest} does not match its digest"));
        }
        Ok((media_type, content))
    }

    /// The remote's blob `digest`, as a stream (the receiver checks the digest), with its
    /// length when the remote says it.
    pub(crate) async fn blob(&self, digest: &Digest) -> Result<(Option<u64>, berth_registry::ByteStream), String> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|http| http.get(&url), false).await?;
        if !response.status().is_success() {
            return Err(failure(&format!("pulling blob {digest}"), response).await);
        }
        Ok((response.content_length(), Box::pin(response.bytes_stream().map_err(std::io::Error::other))))
    }

    /// The length of the remote's blob `digest` (`None` when it has none).
    pub(crate) async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, String> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(|http| http.head(&url), false).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => response
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Some)
                .ok_or_else(|| format!("the remote gave no length for blob {digest}")),
            _ => Err(failure(&format!("checking blob {digest}"), response).await),
        }
    }

    /// Streams one blob from the remote into a local upload, which checks its digest.
    async fn pull_blob(&self, registry: &Registry, repository: &RepositoryName, digest: &Digest) -> Result<(), String> {
        let (_, body) = self.blob(digest).await?;
        let upload = registry.start_upload(repository).await.map_err(|e| format!("storing blob {digest}: {e}"))?;
        if let Err(e) = registry.complete_upload(repository, &upload.id, digest, Some(body)).await {
            let _ = registry.cancel_upload(repository, &upload.id).await;
            return Err(format!("storing blob {digest}: {e}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_with_quotes_and_commas() {
        let params =
            challenge_params(r#"realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#);
        assert_eq!(params[0], ("realm".to_owned(), "https://auth.example.com/token".to_owned()));
        assert_eq!(params[1], ("service".to_owned(), "registry.example.com".to_owned()));
        assert_eq!(params[2], ("scope".to_owned(), "repository:a/b:pull,push".to_owned()));
        assert_eq!(challenge_params("realm=x, service=y"), vec![("realm".into(), "x".into()), ("service".into(), "y".into())]);
    }
}
