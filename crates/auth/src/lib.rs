//! Who you are and what you may do.
//!
//! # Layout
//! - [`subject`]: the caller (`Subject`): the user and the credential they presented.
//! - [`policy`]: the pure rules, DTR's model narrowed by the credential, table-tested.
//! - [`password`]: argon2id hashing on a small bounded pool, and the password rules.
//! - [`limiter`]: failed-login limits per source and per account and source.
//! - [`cache`]: the bounded caches of checked passwords and token signatures.
//! - [`jwt`]: the Docker token service's tokens, signed with a key kept (sealed) in the metadata.
//! - [`access_token`]: personal access tokens usable wherever a password is.
//! - [`identity`]: the LDAP / Active Directory directory: login by bind, and the sync job.
//! - [`service`]: credentials into subjects; bearer and refresh tokens.
//! - [`manage`]: accounts, teams, members, grants and access tokens.
//!
//! Nothing here knows HTTP; the top crate parses headers and asks.

pub mod access_token;
mod audit;
pub mod cache;
pub mod identity;
pub mod jwt;
pub mod limiter;
pub mod manage;
pub mod password;
pub mod policy;
pub mod service;
pub mod session;
mod stats;
pub mod subject;

pub use berth_meta::Event;
pub use berth_meta::Page;
/// Who and where requests come from: the HTTP layer opens a scope per request and names
/// the caller once authenticated; every change the request makes is logged with it.
pub use berth_meta::origin;
pub use berth_meta::query::Listing;
pub use berth_meta::query::{EventFilter, EventPage};
pub use berth_meta::{AccessToken, Account, AccountKind, LdapSyncReport, Team, TeamSync};
pub use manage::{AccountChanges, CreatedToken, NewAccount, NewToken};
pub use password::PasswordOptions;
pub use policy::{RepositoryFacts, level};
pub use service::{Auth, AuthOptions, RepositoryQuery};
pub use session::{SessionInUse, SessionStarted};
pub use stats::AuthCounts;
pub use subject::{Action, Credential, Level, Restriction, Subject, User};

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
    /// The caller's credential does not allow this (not the right user, not an
    /// administrator, or a restricted or bearer token where the password is needed).
    #[error("you are not authorized to do this")]
    NotAuthorized,
    /// The change was refused by a rule checked inside its command.
    #[error("{0}")]
    Refused(Refusal),
    /// A command refused a change in a way the operation does not expect (a bug); the
    /// detail is for the log.
    #[error("a change was refused unexpectedly: {0}")]
    Unexpected(String),
    /// The request is malformed (a name, a password, a limit), with why.
    #[error("{0}")]
    Invalid(String),
    /// Too many password checks are waiting; try again shortly.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// The cluster cannot take the change now (no quorum); nothing was lost.
    #[error("{0}")]
    Unavailable(String),
    /// Metadata failed.
    #[error(transparent)]
    Meta(berth_meta::Error),
}

impl From<berth_meta::Error> for Error {
    fn from(e: berth_meta::Error) -> Self {
        e.unavailable().map_or_else(Error::Meta, Error::Unavailable)
    }
}

/// Why an account, team, grant or token change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The account name is taken.
    #[error("an account with this name exists")]
    AccountExists,
    /// No such account (or not an active user where one is needed).
    #[error("no such account")]
    AccountUnknown,
    /// The account is not an organization.
    #[error("the account is not an organization")]
    NotAnOrganization,
    /// The team exists.
    #[error("a team with this name exists")]
    TeamExists,
    /// No such team.
    #[error("no such team")]
    TeamUnknown,
    /// The `owners` team cannot be deleted.
    #[error("every organization keeps its owners team: its members administer the organization")]
    OwnersTeamKept,
    /// No such access token.
    #[error("no such access token")]
    TokenUnknown,
    /// Repositories live in the namespace.
    #[error("repositories live in this namespace: delete them first, or create the account adopting them")]
    NamespaceInUse,
    /// The change would leave no active system administrator.
    #[error("the registry needs at least one active system administrator")]
    LastAdministrator,
    /// An access token's expiry is not in the future.
    #[error("a token's expiry must lie in the future")]
    ExpiryInThePast,
}

impl Refusal {
    /// The refusal a command's rejection means here; `Error::Unexpected` for one no
    /// account, team, grant or token command gives.
    pub(crate) fn from_rejection(rejection: berth_meta::Rejection) -> Error {
        use berth_meta::Rejection as R;
        Error::Refused(match rejection {
            R::AccountExists => Refusal::AccountExists,
            R::AccountUnknown => Refusal::AccountUnknown,
            R::NotAnOrganization => Refusal::NotAnOrganization,
            R::TeamExists => Refusal::TeamExists,
            R::TeamUnknown => Refusal::TeamUnknown,
            R::OwnersTeamKept => Refusal::OwnersTeamKept,
            R::TokenUnknown => Refusal::TokenUnknown,
            R::NamespaceInUse => Refusal::NamespaceInUse,
            R::LastAdministrator => Refusal::LastAdministrator,
            R::ExpiryInThePast => Refusal::ExpiryInThePast,
            other @ (R::MissingReferences(_)
            | R::BlobUnknown
            | R::ManifestUnknown
            | R::TagUnknown
            | R::TagImmutable
            | R::RepositoryExists
            | R::RepositoryUnknown
            | R::TrustVersionStale(_)
            | R::NamespaceUnknown
            | R::TagSigned(_)
            | R::TagImmutableDeletion(_)
            | R::BlobRetired
            | R::GcRunning(_)
            | R::QuotaExceeded { .. }
            | R::ManifestInUse
            | R::TrustCollectionExists(_)
            | R::WebhookUnknown
            | R::DeliveryUnknown
            | R::PolicyUnknown
            | R::NamespaceIsCache
            | R::MirrorTaken(_)) => return Error::Unexpected(format!("{other:?}")),
        })
    }
}
