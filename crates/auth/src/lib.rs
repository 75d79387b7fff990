//! Who you are and what you may do.
//!
//! # Layout
//! - [`subject`]: the caller (`Subject`), access levels and actions.
//! - [`policy`]: the pure rule `level(subject, repository)`, DTR's model, table-tested.
//! - [`password`]: argon2id hashing, off the async threads.
//! - [`jwt`]: the Docker token service's tokens, signed with a key kept in the metadata.
//! - [`access_token`]: personal access tokens usable wherever a password is.
//! - [`identity`]: the LDAP / Active Directory directory: login by bind, and the sync job.
//!
//! Nothing here knows HTTP; the top crate parses headers and asks.

pub mod access_token;
pub mod identity;
pub mod jwt;
pub mod limiter;
pub mod password;
pub mod policy;
pub mod service;
pub mod subject;

pub use policy::{RepositoryFacts, level};
pub use service::Auth;
pub use subject::{Action, Level, Restriction, Subject};

/// Authentication failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong user name, password or token; deliberately not saying which.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed attempts for the account or from the source; try later.
    #[error("too many failed login attempts; try again later")]
    TooManyAttempts,
    /// A token that is malformed, forged, expired or for another service.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// Hashing or key handling failed.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// The LDAP directory could not be asked (unreachable, misconfigured, timed out).
    #[error(transparent)]
    Directory(#[from] identity::ldap::DirectoryError),
    /// No LDAP directory is configured.
    #[error("no LDAP directory is configured")]
    NoDirectory,
    /// Metadata failed.
    #[error(transparent)]
    Meta(#[from] berth_meta::Error),
}
