//! Callers: who they are and the credential they presented.

pub use berth_core::{Action, Level};

/// A limit an access token puts on what its user may do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restriction {
    /// Only these repositories (empty: no limit).
    pub repositories: Vec<String>,
    /// Only these actions (empty: pull, push and delete).
    pub actions: Vec<Action>,
}

/// One grant of a bearer token, as in the Docker token specification.
pub use crate::jwt::Access;

/// The credential a caller presented. It never widens what the user may do; it can only
/// narrow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// None (an anonymous caller).
    None,
    /// The account's password: everything the user may do, managing accounts, teams,
    /// grants, tokens and settings included.
    Password,
    /// An access token. Without a restriction it stands for the password; with one, it
    /// reaches only its repositories and actions, and never administration or management.
    AccessToken {
        /// The token's id (bearer and refresh tokens derived from it name it, and die with it).
        id: String,
        /// Its limits, if any.
        restriction: Option<Restriction>,
    },
    /// A bearer token from `/auth/token`: exactly the access it lists, and no management.
    Bearer(Vec<Access>),
}

/// A logged-in user, as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's name (also their namespace).
    pub name: String,
    /// A system administrator.
    pub admin: bool,
    /// The (org, team) pairs the user belongs to.
    pub teams: Vec<(String, String)>,
    /// The account's credential epoch when the credential was checked.
    pub epoch: u64,
}

/// Who is asking, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user, `None` for an anonymous caller.
    pub user: Option<User>,
    /// What the caller presented.
    pub credential: Credential,
}

impl Subject {
    /// An anonymous caller without a token.
    pub fn anonymous() -> Subject {
        Subject { user: None, credential: Credential::None }
    }

    /// The user's name, if any.
    pub fn name(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.name.as_str())
    }

    /// Whether the caller is a system administrator.
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.admin)
    }

    /// Whether the credential may manage accounts, teams, grants, tokens and settings:
    /// the password, or an access token without limits.
    pub fn may_manage(&self) -> bool {
        self.user.is_some() && matches!(self.credential, Credential::Password | Credential::AccessToken { restriction: None, .. })
    }
}

impl Credential {
    /// Whether the credential lets its holder do `action` on `repository` (the user's
    /// own rights are checked besides).
    pub fn permits(&self, repository: &str, action: Action) -> bool {
        match self {
            Credential::None | Credential::Password | Credential::AccessToken { restriction: None, .. } => true,
            Credential::AccessToken { restriction: Some(r), .. } => {
                action != Action::Admin
                    && (r.repositories.is_empty() || r.repositories.iter().any(|n| n == repository))
                    && (r.actions.is_empty() || r.actions.contains(&action))
            }
            Credential::Bearer(access) => access.iter().any(|a| {
                a.kind == "repository"
                    && berth_core::split_host(&a.name).1 == repository
                    && a.actions.iter().any(|w| w == "*" || w == action.scope_word())
            }),
        }
    }

    /// Whether the credential reaches `repository` at all (for listings such as the
    /// catalog, where a bearer token's `registry:catalog:*` grant stands for the whole list).
    pub fn reaches(&self, repository: &str) -> bool {
        match self {
            Credential::AccessToken { restriction: Some(r), .. } => {
                r.repositories.is_empty() || r.repositories.iter().any(|n| n == repository)
            }
            _ => true,
        }
    }

    /// Whether the credential may list the catalog.
    pub fn lists_catalog(&self) -> bool {
        match self {
            Credential::Bearer(access) => access.iter().any(|a| a.kind == "registry" && a.name == "catalog" && !a.actions.is_empty()),
            _ => true,
        }
    }
}
