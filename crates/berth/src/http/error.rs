//! **The** mapping from every crate's error to the wire: status, distribution-spec code,
//! message, and `{"errors":[{"code","message","detail"}]}`. Exhaustive on purpose: a new
//! domain error does not compile until it is mapped here. Internal failures are logged
//! (inside the request's span, so with its id) and answered without detail.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::v2::route::RouteError;

/// The distribution-spec error codes Berth answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Blob unknown to the repository.
    BlobUnknown,
    /// Upload request inconsistent.
    BlobUploadInvalid,
    /// Upload session unknown.
    BlobUploadUnknown,
    /// Digest malformed or mismatched.
    DigestInvalid,
    /// Manifest references unknown content.
    ManifestBlobUnknown,
    /// Manifest malformed.
    ManifestInvalid,
    /// Manifest unknown.
    ManifestUnknown,
    /// Repository name malformed.
    NameInvalid,
    /// Repository unknown.
    NameUnknown,
    /// Size over a limit, or inconsistent.
    SizeInvalid,
    /// Authentication required.
    Unauthorized,
    /// Authenticated, but not allowed.
    Denied,
    /// Too many failed attempts.
    TooManyRequests,
    /// Operation or endpoint not supported.
    Unsupported,
    /// A service the request depends on (the LDAP directory) cannot be reached.
    Unavailable,
    /// Anything the server failed at.
    Unknown,
    /// Trust: no such metadata.
    MetadataNotFound,
    /// Trust: an update part names no role.
    InvalidRole,
    /// Trust: an update part is not TUF metadata.
    MalformedJson,
    /// Trust: the update is not a readable multipart body.
    MalformedUpload,
    /// Trust: the update breaks a validation rule.
    InvalidUpdate,
    /// Trust: a newer version is stored.
    Version,
    /// Trust: the GUN does not name this registry, or the repository's trust data is
    /// held under another GUN.
    InvalidGun,
}

impl Code {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::Unsupported => "UNSUPPORTED",
            Code::Unavailable => "UNAVAILABLE",
            Code::Unknown => "UNKNOWN",
            Code::MetadataNotFound => "METADATA_NOT_FOUND",
            Code::InvalidRole => "INVALID_ROLE",
            Code::MalformedJson => "MALFORMED_JSON",
            Code::MalformedUpload => "MALFORMED_UPLOAD",
            Code::InvalidUpdate => "INVALID_UPDATE",
            Code::Version => "VERSION",
            Code::InvalidGun => "INVALID_GUN",
        }
    }
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Code,
    message: String,
    detail: Value,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: bool,
}

impl ApiError {
    /// An error with no detail.
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), detail: Value::Null, headers: Vec::new(), body: true }
    }

    /// Adds a detail object.
    pub fn detail(mut self, detail: Value) -> ApiError {
        self.detail = detail;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// `416` for a blob range: as HTTP defines it, with `Content-Range: bytes */<size>` and
    /// no body (the distribution-spec has no error code for it).
    pub fn range_not_satisfiable(size: u64) -> ApiError {
        ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, Code::Unknown, "requested range not satisfiable")
            .header(header::CONTENT_RANGE, header_value(&format!("bytes */{size}")))
            .without_body()
    }

    fn without_body(mut self) -> ApiError {
        self.body = false;
        self
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// `503 UNAVAILABLE` with a `Retry-After`: the cluster cannot take the request now
    /// (a lost quorum, named in the message); nothing was changed or lost.
    pub fn unavailable(message: String) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, message)
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// A failure of the server itself: logged with its cause, answered generically.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, Code::Unknown, "internal server error; see the server log for this request id")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if !self.body {
            let mut response = (self.status, [(header::CONTENT_LENGTH, "0")]).into_response();
            for (name, value) in self.headers {
                response.headers_mut().insert(name, value);
            }
            return response;
        }
        let body = json!({"errors": [{"code": self.code.as_str(), "message": self.message, "detail": self.detail}]});
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// An `/api/v0` error, in DTR's codes (`NOT_AUTHENTICATED`, `NO_SUCH_ACCOUNT`, …) and the
/// same envelope as the registry's.
#[derive(Debug)]
pub struct ApiV0Error {
    /// The status.
    pub status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiV0Error {
    /// An error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiV0Error {
        ApiV0Error { status, code, message: message.into(), headers: Vec::new() }
    }

    /// `403 NOT_AUTHORIZED`.
    pub fn forbidden() -> ApiV0Error {
        ApiV0Error::new(StatusCode::FORBIDDEN, "NOT_AUTHORIZED", "you are not authorized to do this")
    }

    /// `401 NOT_AUTHENTICATED`.
    pub fn not_authenticated() -> ApiV0Error {
        ApiV0Error::new(StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED", "authentication required")
    }

    /// `400 INVALID_INPUT`.
    pub fn invalid(message: impl Into<String>) -> ApiV0Error {
        ApiV0Error::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", message)
    }

    /// A failure of the server itself: logged with its cause, answered generically.
    pub fn internal(e: &dyn std::fmt::Display) -> ApiV0Error {
        tracing::error!(error = %e, "internal error");
        ApiV0Error::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "internal server error; see the server log for this request id")
    }

    /// `503`, to be retried.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiV0Error {
        let mut e = ApiV0Error::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.headers.push((header::RETRY_AFTER, HeaderValue::from_static("1")));
        e
    }

    /// The message for the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A repository that does not exist, or that the caller may not read.
    pub fn no_such_repository() -> ApiV0Error {
        ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY", "no such repository")
    }
}

impl IntoResponse for ApiV0Error {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{"code": self.code, "message": self.message, "detail": {}}]});
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<berth_auth::Error> for ApiV0Error {
    fn from(e: berth_auth::Error) -> ApiV0Error {
        use berth_auth::Error as E;
        use berth_auth::Refusal as R;
        match e {
            E::InvalidCredentials | E::InvalidToken(_) => ApiV0Error::not_authenticated(),
            E::TooManyAttempts => {
                ApiV0Error::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "too many failed login attempts; try again later")
            }
            E::NotAuthorized => ApiV0Error::forbidden(),
            E::Refused(refusal) => {
                let message = refusal.to_string();
                match refusal {
                    R::AccountExists => ApiV0Error::new(StatusCode::CONFLICT, "ACCOUNT_EXISTS", message),
                    R::AccountUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_ACCOUNT", message),
                    R::NotAnOrganization => ApiV0Error::invalid(message),
                    R::TeamExists => ApiV0Error::new(StatusCode::CONFLICT, "TEAM_EXISTS", message),
                    R::TeamUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TEAM", message),
                    R::OwnersTeamKept => ApiV0Error::new(StatusCode::CONFLICT, "OWNERS_TEAM", message),
                    R::TokenUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TOKEN", message),
                    R::NamespaceInUse => ApiV0Error::new(
                        StatusCode::CONFLICT,
                        "NAMESPACE_IN_USE",
                        "repositories live in this namespace: delete them first, or create the account with \"adoptRepositories\": true to take them over",
                    ),
                    R::LastAdministrator => ApiV0Error::new(StatusCode::CONFLICT, "LAST_ADMINISTRATOR", message),
                    R::ExpiryInThePast => ApiV0Error::invalid("expiresAt must lie in the future"),
                }
            }
            E::Invalid(message) => ApiV0Error::invalid(message),
            E::Busy => ApiV0Error::unavailable("BUSY", e.to_string()),
            E::Directory(ref cause) => {
                tracing::warn!(error = %cause, "LDAP directory unavailable");
                ApiV0Error::unavailable("LDAP_UNAVAILABLE", "the LDAP directory cannot be reached; try again later")
            }
            E::NoDirectory => {
                ApiV0Error::new(StatusCode::CONFLICT, "LDAP_NOT_CONFIGURED", "no LDAP directory is configured ([ldap] in berth.toml)")
            }
            E::Unavailable(why) => ApiV0Error::unavailable("UNAVAILABLE", why),
            E::Unexpected(_) | E::Crypto(_) | E::Meta(_) => ApiV0Error::internal(&e),
        }
    }
}

impl From<berth_registry::Error> for ApiV0Error {
    fn from(e: berth_registry::Error) -> ApiV0Error {
        use berth_registry::Error as E;
        let message = e.to_string();
        match e {
            E::NameUnknown => ApiV0Error::no_such_repository(),
            E::NamespaceUnknown(_) => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_ACCOUNT", message),
            E::RepositoryExists => ApiV0Error::new(StatusCode::CONFLICT, "REPOSITORY_EXISTS", message),
            E::PolicyUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_POLICY", message),
            E::ManifestUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_TAG", "no such tag"),
            E::TagSigned(tag) => ApiV0Error::new(
                StatusCode::BAD_REQUEST,
                "TAG_IN_NOTARY",
                format!(
                    "tag {tag} is signed in the repository's trust data; remove its signature (docker trust revoke) before deleting it"
                ),
            ),
            E::TagImmutableDeletion(_) => ApiV0Error::new(StatusCode::BAD_REQUEST, "TAG_IMMUTABLE", message),
            E::Invalid(_) | E::TagImmutable(_) | E::Unsigned(_) | E::CacheReadOnly(_) => ApiV0Error::invalid(message),
            E::BlobUnknown(_)
            | E::UploadUnknown
            | E::UploadInvalid(_)
            | E::ChunkOutOfOrder { .. }
            | E::DigestMismatch { .. }
            | E::DigestInvalid(_)
            | E::TooLarge(_)
            | E::ManifestInvalid(_)
            | E::ManifestBlobUnknown(_)
            | E::RangeNotSatisfiable { .. }
            | E::BodyInterrupted(_) => ApiV0Error::invalid(message),
            E::StorageFull => ApiV0Error::new(StatusCode::INSUFFICIENT_STORAGE, "STORAGE_FULL", message),
            E::Unavailable(why) => ApiV0Error::unavailable("UNAVAILABLE", why),
            E::GcRunning(_) => ApiV0Error::new(StatusCode::CONFLICT, "GC_RUNNING", message),
            E::QuotaExceeded(_) => ApiV0Error::new(StatusCode::FORBIDDEN, "QUOTA_EXCEEDED", message),
            E::BlobBeingCollected(_) => ApiV0Error::unavailable("UNAVAILABLE", message),
            E::Refused(_) | E::Storage(_) | E::Meta(_) => ApiV0Error::internal(&e),
        }
    }
}

/// An authentication failure on `/v2`, `/auth/token` or the trust service. Wrong
/// credentials are a bare `401` here; where the Docker token flow needs its challenge,
/// the caller answers them itself before converting. `429` after too many failed
/// attempts, `503` when the LDAP directory cannot be asked or the password checks are
/// saturated.
impl From<berth_auth::Error> for ApiError {
    fn from(e: berth_auth::Error) -> ApiError {
        use berth_auth::Error as E;
        match e {
            E::InvalidCredentials | E::InvalidToken(_) => {
                ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, "authentication required")
            }
            E::TooManyAttempts => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, Code::TooManyRequests, "too many failed login attempts; try again later")
            }
            E::Directory(ref cause) => {
                tracing::warn!(error = %cause, "LDAP directory unavailable for a login");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, "the LDAP directory cannot be reached; try again later")
            }
            E::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, e.to_string())
                .header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            E::NotAuthorized => ApiError::new(StatusCode::FORBIDDEN, Code::Denied, e.to_string()),
            E::Refused(ref refusal) => ApiError::new(StatusCode::CONFLICT, Code::Denied, refusal.to_string()),
            E::Invalid(ref why) => ApiError::new(StatusCode::BAD_REQUEST, Code::Unsupported, why.clone()),
            E::NoDirectory => ApiError::new(StatusCode::CONFLICT, Code::Unsupported, e.to_string()),
            E::Unavailable(why) => ApiError::unavailable(why),
            E::Unexpected(_) | E::Crypto(_) | E::Meta(_) => ApiError::internal(&e),
        }
    }
}

impl From<berth_registry::Error> for ApiError {
    fn from(e: berth_registry::Error) -> ApiError {
        use berth_registry::Error as E;
        let message = e.to_string();
        match e {
            E::NameUnknown | E::NamespaceUnknown(_) => ApiError::new(StatusCode::NOT_FOUND, Code::NameUnknown, message),
            E::TagSigned(_) | E::TagImmutableDeletion(_) | E::Unsigned(_) | E::QuotaExceeded(_) | E::CacheReadOnly(_) => {
                ApiError::new(StatusCode::FORBIDDEN, Code::Denied, message)
            }
            E::RepositoryExists | E::Invalid(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::Unsupported, message),
            E::StorageFull => ApiError::new(StatusCode::INSUFFICIENT_STORAGE, Code::Unknown, message),
            E::Refused(_) => ApiError::internal(&e),
            E::BlobUnknown(digest) => ApiError::new(StatusCode::NOT_FOUND, Code::BlobUnknown, message).detail(json!({"digest": digest})),
            E::UploadUnknown => ApiError::new(StatusCode::NOT_FOUND, Code::BlobUploadUnknown, message),
            E::UploadInvalid(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::BlobUploadInvalid, message),
            E::ChunkOutOfOrder { current, .. } => {
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, Code::BlobUploadInvalid, message).detail(json!({"offset": current}))
            }
            E::DigestMismatch { ref expected, ref actual } => {
                let detail = json!({"expected": expected, "actual": actual});
                ApiError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, message).detail(detail)
            }
            E::DigestInvalid(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, message),
            E::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, Code::SizeInvalid, message),
            E::ManifestUnknown => ApiError::new(StatusCode::NOT_FOUND, Code::ManifestUnknown, message),
            E::ManifestInvalid(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::ManifestInvalid, message),
            E::ManifestBlobUnknown(digests) => {
                ApiError::new(StatusCode::BAD_REQUEST, Code::ManifestBlobUnknown, message).detail(json!({"digests": digests}))
            }
            E::TagImmutable(_) => ApiError::new(StatusCode::FORBIDDEN, Code::Denied, message),
            E::RangeNotSatisfiable { size } => ApiError::range_not_satisfiable(size),
            E::BodyInterrupted(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::BlobUploadInvalid, message),
            E::Unavailable(why) => ApiError::unavailable(why),
            // The client pushes the blob again (docker retries a failed layer).
            E::BlobBeingCollected(_) => ApiError::unavailable(message),
            E::GcRunning(_) | E::PolicyUnknown => ApiError::internal(&e),
            E::Storage(ref inner) => ApiError::internal(inner),
            E::Meta(ref inner) => ApiError::internal(inner),
        }
    }
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> ApiError {
        let message = e.to_string();
        match e {
            RouteError::NotFound => ApiError::new(StatusCode::NOT_FOUND, Code::Unsupported, message),
            RouteError::MethodNotAllowed(allow) => ApiError::new(StatusCode::METHOD_NOT_ALLOWED, Code::Unsupported, message)
                .header(header::ALLOW, HeaderValue::from_static(allow)),
            RouteError::ManifestUnknown => ApiError::new(StatusCode::NOT_FOUND, Code::ManifestUnknown, message),
            RouteError::Name(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::NameInvalid, message),
            RouteError::Digest(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, message),
            RouteError::Reference(berth_core::ReferenceError::Digest(_)) => {
                ApiError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, message)
            }
            RouteError::Reference(berth_core::ReferenceError::InvalidTag(_)) => {
                ApiError::new(StatusCode::BAD_REQUEST, Code::ManifestInvalid, message)
            }
            RouteError::UploadId => ApiError::new(StatusCode::NOT_FOUND, Code::BlobUploadUnknown, message),
            RouteError::TrustNotFound => ApiError::new(StatusCode::NOT_FOUND, Code::MetadataNotFound, message),
        }
    }
}

impl From<berth_trust::Error> for ApiError {
    fn from(e: berth_trust::Error) -> ApiError {
        use berth_trust::Error as E;
        let message = e.to_string();
        match e {
            E::MetadataNotFound => ApiError::new(StatusCode::NOT_FOUND, Code::MetadataNotFound, message),
            E::InvalidRole(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidRole, message),
            E::MalformedJson(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::MalformedJson, message),
            E::InvalidUpdate(ref invalid) => ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidUpdate, message).detail(invalid.detail()),
            E::OldVersion(_) => ApiError::new(StatusCode::BAD_REQUEST, Code::Version, message),
            E::ForeignGun { .. } => ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidGun, message),
            E::RepositoryUnknown => ApiError::new(StatusCode::NOT_FOUND, Code::NameUnknown, message),
            E::CollectionExists(_) => ApiError::new(StatusCode::CONFLICT, Code::InvalidGun, message),
            E::Unavailable(why) => ApiError::unavailable(why),
            E::Crypto(ref inner) => ApiError::internal(inner),
            E::Meta(ref inner) => ApiError::internal(inner),
        }
    }
}

/// A cluster operation's failure: membership, join tokens, replica messages.
impl From<berth_services::ClusterError> for ApiV0Error {
    fn from(e: berth_services::ClusterError) -> ApiV0Error {
        use berth_services::ClusterError as E;
        let message = e.to_string();
        match e {
            E::NotAuthorized => ApiV0Error::forbidden(),
            E::NotAReplica => ApiV0Error::new(StatusCode::FORBIDDEN, "NOT_A_REPLICA", message),
            E::Invalid(_) => ApiV0Error::invalid(message),
            E::JoinRefused => ApiV0Error::new(StatusCode::FORBIDDEN, "JOIN_REFUSED", message),
            E::Unavailable(_) => ApiV0Error::unavailable("UNAVAILABLE", message),
            E::Refused(_) => ApiV0Error::new(StatusCode::CONFLICT, "REFUSED", message),
            E::Ca(_) | E::Seal(_) | E::Io(_) | E::Meta(_) => ApiV0Error::internal(&e),
        }
    }
}

/// A backup that could not be started.
impl From<berth_services::BackupError> for ApiV0Error {
    fn from(e: berth_services::BackupError) -> ApiV0Error {
        use berth_services::BackupError as E;
        match e {
            E::NotAuthorized => ApiV0Error::forbidden(),
            E::Refused(ref message) => ApiV0Error::invalid(message.clone()),
            E::WrongMasterKey | E::Io(_) | E::Meta(_) | E::Storage(_) | E::Seal(_) => ApiV0Error::internal(&e),
        }
    }
}

/// A header value from text we produced (digests, numbers, paths of validated names).
pub fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

impl From<berth_services::WebhookError> for ApiV0Error {
    fn from(e: berth_services::WebhookError) -> ApiV0Error {
        use berth_services::WebhookError as E;
        let message = e.to_string();
        match e {
            E::Invalid(_) => ApiV0Error::invalid(message),
            E::Forbidden(_) => ApiV0Error::forbidden(),
            E::Auth(e) => e.into(),
            E::Unknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_WEBHOOK", message),
            E::DeliveryUnknown => ApiV0Error::new(StatusCode::NOT_FOUND, "NO_SUCH_DELIVERY", message),
            E::Unavailable(why) => ApiV0Error::unavailable("UNAVAILABLE", why),
            E::Meta(_) => ApiV0Error::internal(&e),
        }
    }
}
