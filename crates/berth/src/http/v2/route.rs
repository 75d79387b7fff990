//! `/v2/...` paths parsed into [`V2Route`], matched from the right so that repository
//! names may hold any number of `/`-separated components. Pure and table-tested.

use axum::http::Method;
use berth_core::{Digest, DigestError, NameError, Reference, ReferenceError, RepositoryName};
use berth_registry::UploadId;
pub use berth_trust::service::Selector;
use berth_trust::tuf::{Role, ServerRole};

/// A registry endpoint, with its path parameters parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags { name: RepositoryName },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest { name: RepositoryName, reference: Reference },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: RepositoryName, digest: Digest },
    /// `/v2/<name>/blobs/uploads/`.
    Uploads { name: RepositoryName },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload { name: RepositoryName, id: UploadId },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers { name: RepositoryName, digest: Digest },
    /// `/v2/<gun>/_trust/tuf/…`: the trust service. The GUN is host-qualified
    /// (`localhost:5443/dev/app`); `name` is the repository it names.
    Trust { gun: String, name: RepositoryName, endpoint: TrustEndpoint },
}

/// A trust service endpoint under `/v2/<gun>/_trust/tuf/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustEndpoint {
    /// `<role>.json`, `<N>.<role>.json`, `<role>.<sha256>.json`.
    Metadata { role: Role, selector: Selector },
    /// `` (POST: an update; DELETE: delete all trust data).
    Tuf,
    /// `timestamp.key`, `snapshot.key` (GET: the key; POST: rotate).
    Key { role: ServerRole },
}

/// A path or method that names no endpoint, or a malformed parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No endpoint has this path.
    #[error("no such endpoint")]
    NotFound,
    /// The endpoint does not take this method; these are the ones it takes.
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed(&'static str),
    /// A reference that can name no manifest (an invalid tag, read or deleted).
    #[error("manifest unknown")]
    ManifestUnknown,
    /// The repository name is malformed.
    #[error("invalid repository name: {0}")]
    Name(#[from] NameError),
    /// The digest in the path is malformed.
    #[error("invalid digest: {0}")]
    Digest(#[from] DigestError),
    /// The manifest reference is malformed.
    #[error("invalid reference: {0}")]
    Reference(#[from] ReferenceError),
    /// The upload id is not one Berth issues.
    #[error("blob upload unknown to registry")]
    UploadId,
    /// No trust metadata or endpoint has this path.
    #[error("You have requested metadata that does not exist.")]
    TrustNotFound,
}

impl V2Route {
    /// Parses the path (starting with `/v2`) and checks the method is one the endpoint takes.
    pub fn parse(method: &Method, path: &str) -> Result<V2Route, RouteError> {
        let route = match Self::parse_path(path) {
            // A tag that breaks the grammar can name no manifest: only a push is told it is invalid.
            Err(RouteError::Reference(ReferenceError::InvalidTag(_))) if method != Method::PUT => {
                return Err(RouteError::ManifestUnknown);
            }
            other => other?,
        };
        if route.allows(method) { Ok(route) } else { Err(RouteError::MethodNotAllowed(route.methods())) }
    }

    fn parse_path(path: &str) -> Result<V2Route, RouteError> {
        let rest = path.strip_prefix("/v2").ok_or(RouteError::NotFound)?;
        let rest = match rest {
            "" | "/" => return Ok(V2Route::Base),
            _ => rest.strip_prefix('/').ok_or(RouteError::NotFound)?,
        };
        if rest == "_catalog" {
            return Ok(V2Route::Catalog);
        }
        // The GUN starts with the registry's host:port, which the name grammar refuses:
        // trust paths are recognised by their marker first.
        if let Some((gun, tail)) = rest.split_once("/_trust/") {
            return Self::parse_trust(gun, tail);
        }
        let name = |n: &str| n.parse::<RepositoryName>().map_err(RouteError::from);
        if let Some(n) = rest.strip_suffix("/tags/list") {
            return Ok(V2Route::Tags { name: name(n)? });
        }
        if let Some(n) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads")) {
            return Ok(V2Route::Uploads { name: name(n)? });
        }
        let (head, last) = rest.rsplit_once('/').ok_or(RouteError::NotFound)?;
        let (n, kind) = head.rsplit_once('/').ok_or(RouteError::NotFound)?;
        match kind {
            "manifests" => Ok(V2Route::Manifest { name: name(n)?, reference: last.parse()? }),
            "referrers" => Ok(V2Route::Referrers { name: name(n)?, digest: last.parse()? }),
            "blobs" => Ok(V2Route::Blob { name: name(n)?, digest: last.parse()? }),
            "uploads" => {
                let n = n.strip_suffix("/blobs").ok_or(RouteError::NotFound)?;
                let name = name(n)?;
                Ok(V2Route::Upload { name, id: last.parse().map_err(|_| RouteError::UploadId)? })
            }
            _ => Err(RouteError::NotFound),
        }
    }

    fn parse_trust(gun: &str, tail: &str) -> Result<V2Route, RouteError> {
        if gun.is_empty() || gun.contains('*') {
            return Err(RouteError::TrustNotFound);
        }
        let name = berth_core::split_host(gun).1.parse::<RepositoryName>()?;
        let file = tail.strip_prefix("tuf/").ok_or(RouteError::TrustNotFound)?;
        let endpoint = if file.is_empty() {
            TrustEndpoint::Tuf
        } else if let Some(role) = file.strip_suffix(".key") {
            TrustEndpoint::Key { role: ServerRole::parse(role).ok_or(RouteError::TrustNotFound)? }
        } else {
            let stem = file.strip_suffix(".json").ok_or(RouteError::TrustNotFound)?;
            let (role, selector) = match stem.split_once('.') {
                Some((n, role)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    (role, Selector::Version(n.parse().map_err(|_| RouteError::TrustNotFound)?))
                }
                _ => match stem.rsplit_once('.') {
                    Some((role, sum)) if matches!(sum.len(), 64 | 96 | 128) && sum.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        (role, Selector::Checksum(sum.to_ascii_lowercase()))
                    }
                    _ => (stem, Selector::Current),
                },
            };
            TrustEndpoint::Metadata { role: Role::parse(role).ok_or(RouteError::TrustNotFound)?, selector }
        };
        Ok(V2Route::Trust { gun: gun.to_owned(), name, endpoint })
    }

    /// The methods the endpoint takes, as an `Allow` header value.
    pub fn methods(&self) -> &'static str {
        match self {
            V2Route::Base | V2Route::Catalog | V2Route::Tags { .. } | V2Route::Referrers { .. } => "GET, HEAD",
            V2Route::Manifest { .. } => "GET, HEAD, PUT, DELETE",
            V2Route::Blob { .. } => "GET, HEAD, DELETE",
            V2Route::Uploads { .. } => "POST",
            V2Route::Upload { .. } => "GET, PATCH, PUT, DELETE",
            V2Route::Trust { endpoint: TrustEndpoint::Metadata { .. }, .. } => "GET, HEAD",
            V2Route::Trust { endpoint: TrustEndpoint::Tuf, .. } => "POST, DELETE",
            V2Route::Trust { endpoint: TrustEndpoint::Key { .. }, .. } => "GET, POST",
        }
    }

    fn allows(&self, method: &Method) -> bool {
        self.methods().split(", ").any(|m| m == method.as_str())
    }

    /// A short, bounded name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            V2Route::Base => "base",
            V2Route::Catalog => "catalog",
            V2Route::Tags { .. } => "tags",
            V2Route::Manifest { .. } => "manifest",
            V2Route::Blob { .. } => "blob",
            V2Route::Uploads { .. } => "uploads",
            V2Route::Upload { .. } => "upload",
            V2Route::Referrers { .. } => "referrers",
            V2Route::Trust { endpoint: TrustEndpoint::Metadata { .. }, .. } => "trust_metadata",
            V2Route::Trust { endpoint: TrustEndpoint::Tuf, .. } => "trust_update",
            V2Route::Trust { endpoint: TrustEndpoint::Key { .. }, .. } => "trust_key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const U: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    fn n(s: &str) -> RepositoryName {
        s.parse().unwrap()
    }

    #[test]
    fn table() {
        let get = Method::GET;
        let cases: Vec<(Method, String, Result<V2Route, RouteError>)> = vec![
            (get.clone(), "/v2/".into(), Ok(V2Route::Base)),
            (get.clone(), "/v2".into(), Ok(V2Route::Base)),
            (get.clone(), "/v2/_catalog".into(), Ok(V2Route::Catalog)),
            (get.clone(), "/v2/a/b/c/tags/list".into(), Ok(V2Route::Tags { name: n("a/b/c") })),
            (
                get.clone(),
                "/v2/org/manifests/x/manifests/latest".into(),
                Ok(V2Route::Manifest { name: n("org/manifests/x"), reference: "latest".parse().unwrap() }),
            ),
            (Method::PUT, format!("/v2/a/manifests/{D}"), Ok(V2Route::Manifest { name: n("a"), reference: D.parse().unwrap() })),
            (Method::HEAD, format!("/v2/a/blobs/{D}"), Ok(V2Route::Blob { name: n("a"), digest: D.parse().unwrap() })),
            (Method::POST, "/v2/a/b/blobs/uploads/".into(), Ok(V2Route::Uploads { name: n("a/b") })),
            (Method::POST, "/v2/a/b/blobs/uploads".into(), Ok(V2Route::Uploads { name: n("a/b") })),
            (Method::PATCH, format!("/v2/a/blobs/uploads/{U}"), Ok(V2Route::Upload { name: n("a"), id: U.parse().unwrap() })),
            (get.clone(), format!("/v2/a/referrers/{D}"), Ok(V2Route::Referrers { name: n("a"), digest: D.parse().unwrap() })),
            (get.clone(), "/v2/../x/tags/list".into(), Err(RouteError::Name(NameError::InvalidComponent("..".into())))),
            (get.clone(), "/v2/UP/tags/list".into(), Err(RouteError::Name(NameError::InvalidComponent("UP".into())))),
            (get.clone(), "/v2/a/blobs/sha256:zz".into(), Err(RouteError::Digest(DigestError::InvalidEncoding("sha256:zz".into())))),
            (get.clone(), "/v2/a/blobs/uploads/not-a-uuid".into(), Err(RouteError::UploadId)),
            (get.clone(), "/v2/a/unknown/x".into(), Err(RouteError::NotFound)),
            (get.clone(), "/v2/a".into(), Err(RouteError::NotFound)),
            (get.clone(), "/v3/".into(), Err(RouteError::NotFound)),
            (Method::POST, "/v2/a/manifests/latest".into(), Err(RouteError::MethodNotAllowed("GET, HEAD, PUT, DELETE"))),
            (Method::PUT, format!("/v2/a/blobs/{D}"), Err(RouteError::MethodNotAllowed("GET, HEAD, DELETE"))),
            (get.clone(), "/v2/a/manifests/.invalid".into(), Err(RouteError::ManifestUnknown)),
            (Method::HEAD, "/v2/a/manifests/.invalid".into(), Err(RouteError::ManifestUnknown)),
            (Method::PUT, "/v2/a/manifests/.invalid".into(), Err(RouteError::Reference(ReferenceError::InvalidTag(".invalid".into())))),
        ];
        for (method, path, expected) in cases {
            assert_eq!(V2Route::parse(&method, &path), expected, "{method} {path}");
        }
        let gun = "localhost:5443/dev/app";
        let trust = |endpoint| Ok(V2Route::Trust { gun: gun.into(), name: n("dev/app"), endpoint });
        let meta = |role: &str, selector| trust(TrustEndpoint::Metadata { role: Role::parse(role).unwrap(), selector });
        let hex = "9efa601f".repeat(8);
        let trust_cases: Vec<(Method, String, Result<V2Route, RouteError>)> = vec![
            (get.clone(), format!("/v2/{gun}/_trust/tuf/root.json"), meta("root", Selector::Current)),
            (get.clone(), format!("/v2/{gun}/_trust/tuf/2.root.json"), meta("root", Selector::Version(2))),
            (get.clone(), format!("/v2/{gun}/_trust/tuf/targets.{hex}.json"), meta("targets", Selector::Checksum(hex.clone()))),
            (get.clone(), format!("/v2/{gun}/_trust/tuf/targets/releases.json"), meta("targets/releases", Selector::Current)),
            (
                get.clone(),
                format!("/v2/{gun}/_trust/tuf/targets/releases.{hex}.json"),
                meta("targets/releases", Selector::Checksum(hex.clone())),
            ),
            (Method::POST, format!("/v2/{gun}/_trust/tuf/"), trust(TrustEndpoint::Tuf)),
            (Method::DELETE, format!("/v2/{gun}/_trust/tuf/"), trust(TrustEndpoint::Tuf)),
            (get.clone(), format!("/v2/{gun}/_trust/tuf/timestamp.key"), trust(TrustEndpoint::Key { role: ServerRole::Timestamp })),
            (Method::POST, format!("/v2/{gun}/_trust/tuf/snapshot.key"), trust(TrustEndpoint::Key { role: ServerRole::Snapshot })),
            (get.clone(), format!("/v2/{gun}/_trust/tuf/root.key"), Err(RouteError::TrustNotFound)),
            (get.clone(), format!("/v2/{gun}/_trust/tuf/foo.json"), Err(RouteError::TrustNotFound)),
            (get.clone(), format!("/v2/{gun}/_trust/changefeed"), Err(RouteError::TrustNotFound)),
            (Method::PUT, format!("/v2/{gun}/_trust/tuf/root.json"), Err(RouteError::MethodNotAllowed("GET, HEAD"))),
            (
                get.clone(),
                "/v2/localhost:5443/UP/_trust/tuf/root.json".into(),
                Err(RouteError::Name(NameError::InvalidComponent("UP".into()))),
            ),
        ];
        for (method, path, expected) in trust_cases {
            assert_eq!(V2Route::parse(&method, &path), expected, "{method} {path}");
        }
        let long = format!("/v2/{}/tags/list", "a".repeat(256));
        assert!(matches!(V2Route::parse(&get, &long), Err(RouteError::Name(NameError::TooLong(256)))));
    }
}
