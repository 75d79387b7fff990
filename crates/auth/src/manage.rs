//! Managing accounts, teams, members, grants and access tokens: every operation takes the
//! caller's [`Subject`], asks the policy, and issues one command whose preconditions are
//! checked inside its transaction. Only a full credential (the password, or an access
//! token without limits) manages anything; a restricted access token or a bearer token
//! is refused here whatever its user could do.

use berth_core::Level;
use berth_core::RepositoryName;
use berth_meta::command::{
    CreateAccessToken, CreateAccount, CreateTeam, DeleteAccount, DeleteTeam, GrantTarget, RevokeAccessToken, SetGrant, SetTeamMember,
    SetTeamSync, TeamLink, UpdateAccount,
};
use berth_meta::{AccessToken, Account, AccountKind, Applied, Command, Team, TeamSync, now};

use crate::policy::{self, administers, manages_user, owns_namespace, owns_org};
use crate::subject::{Action, Subject};
use crate::{Auth, Error, Refusal, access_token};

/// A new user or organization.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Its name, which is also its namespace.
    pub name: String,
    /// A user's password.
    pub password: Option<String>,
    /// Display name.
    pub full_name: String,
    /// E-mail address.
    pub email: String,
    /// An organization rather than a user.
    pub is_org: bool,
    /// A system administrator (users only).
    pub is_admin: bool,
    /// Whether the user may log in.
    pub is_active: bool,
    /// Take over repositories already in the namespace (an administrator's decision).
    pub adopt_repositories: bool,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    /// Display name.
    pub full_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// A new password.
    pub password: Option<String>,
    /// Activate or deactivate (administrators).
    pub is_active: Option<bool>,
    /// Grant or withdraw system administration (administrators).
    pub is_admin: Option<bool>,
}

/// A new access token.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    /// The user's name for it.
    pub name: String,
    /// When it stops working (seconds since the epoch); in the future.
    pub expires_at: Option<u64>,
    /// Limit to these repositories.
    pub repositories: Vec<RepositoryName>,
    /// Limit to these actions (`pull`, `push`, `delete`).
    pub actions: Vec<Action>,
}

/// A token just made: its id, its text (shown once), and its record.
pub struct CreatedToken {
    /// The id.
    pub id: String,
    /// `berth_<id>_<secret>`.
    pub text: String,
    /// What is stored.
    pub record: AccessToken,
}

/// Refuses unless `allowed`.
fn require(allowed: bool) -> Result<(), Error> {
    if allowed { Ok(()) } else { Err(Error::NotAuthorized) }
}

/// Maps a command's outcome: a refusal is the domain's answer, not a failure.
fn done(applied: Applied) -> Result<(), Error> {
    match applied {
        Applied::Done => Ok(()),
        Applied::Rejected(rejection) => Err(Refusal::from_rejection(rejection)),
    }
}

fn valid_name(name: &str) -> Result<(), Error> {
    berth_core::check_account_name(name).map_err(|e| Error::Invalid(e.to_string()))
}

impl Auth {
    async fn apply(&self, command: Command) -> Result<(), Error> {
        done(self.meta.apply(command).await?)
    }

    /// Creates a user or an organization (system administrators).
    pub async fn create_account(&self, by: &Subject, new: NewAccount) -> Result<Account, Error> {
        require(administers(by))?;
        valid_name(&new.name)?;
        let password_hash = match (&new.password, new.is_org) {
            (_, true) => None,
            (Some(password), false) => Some(self.passwords.hash(password).await?),
            (None, false) => return Err(Error::Invalid("a user needs a password".into())),
        };
        let name = new.name.clone();
        let command = CreateAccount {
            name: new.name,
            kind: if new.is_org { AccountKind::Org } else { AccountKind::User },
            full_name: new.full_name,
            email: new.email,
            password_hash,
            active: new.is_active,
            admin: new.is_admin && !new.is_org,
            ldap_dn: None,
            at: now(),
            adopt_repositories: new.adopt_repositories,
        };
        self.apply(Command::CreateAccount(command)).await?;
        self.account(by, &name).await
    }

    /// Every account, sorted by name (any user with a full credential).
    pub async fn accounts(&self, by: &Subject) -> Result<Vec<(String, Account)>, Error> {
        require(by.may_manage())?;
        let found = self
            .meta
            .read(|r| {
                let names = r.accounts(&berth_meta::Page::default())?.items;
                let mut out = Vec::with_capacity(names.len());
                for name in names {
                    if let Some(account) = r.account(&name)? {
                        out.push((name, account));
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(found)
    }

    /// One account (any user with a full credential).
    pub async fn account(&self, by: &Subject, name: &str) -> Result<Account, Error> {
        require(by.may_manage())?;
        let key = name.to_owned();
        self.meta.read(move |r| r.account(&key)).await?.ok_or(Error::Refused(Refusal::AccountUnknown))
    }

    /// Changes an account: the user themself (name, e-mail, password) or a system
    /// administrator (anything). A new password or a deactivation ends every credential
    /// derived from the old state at the next request.
    pub async fn update_account(&self, by: &Subject, name: &str, changes: AccountChanges) -> Result<Account, Error> {
        let privileged = changes.is_active.is_some() || changes.is_admin.is_some();
        require(administers(by) || (manages_user(by, name) && !privileged))?;
        let password_hash = match &changes.password {
            Some(password) => Some(self.passwords.hash(password).await?),
            None => None,
        };
        let command = UpdateAccount {
            name: name.to_owned(),
            full_name: changes.full_name,
            email: changes.email,
            password_hash,
            active: changes.is_active,
            admin: changes.is_admin,
            ldap_dn: None,
        };
        self.apply(Command::UpdateAccount(command)).await?;
        self.account(by, name).await
    }

    /// Deletes an account (system administrators). Refused while repositories live in
    /// its namespace, and for the last active administrator.
    pub async fn delete_account(&self, by: &Subject, name: &str) -> Result<(), Error> {
        require(administers(by))?;
        self.apply(Command::DeleteAccount(DeleteAccount { name: name.to_owned() })).await
    }

    /// Creates a team in an organization (its owners, system administrators).
    pub async fn create_team(&self, by: &Subject, org: &str, team: &str, description: String) -> Result<Team, Error> {
        require(owns_org(by, org))?;
        valid_name(team)?;
        let at = now();
        self.apply(Command::CreateTeam(CreateTeam { org: org.to_owned(), team: team.to_owned(), description: description.clone(), at }))
            .await?;
        Ok(Team { description, created_at: at, ldap_sync: None })
    }

    /// Deletes a team with its memberships and grants (the organization's owners).
    pub async fn delete_team(&self, by: &Subject, org: &str, team: &str) -> Result<(), Error> {
        require(owns_org(by, org))?;
        self.apply(Command::DeleteTeam(DeleteTeam { org: org.to_owned(), team: team.to_owned() })).await
    }

    /// A team (any user with a full credential).
    pub async fn team(&self, by: &Subject, org: &str, team: &str) -> Result<Team, Error> {
        require(by.may_manage())?;
        let (org, team) = (org.to_owned(), team.to_owned());
        self.meta.read(move |r| r.team(&org, &team)).await?.ok_or(Error::Refused(crate::Refusal::TeamUnknown))
    }

    /// An organization's teams (any user with a full credential).
    pub async fn teams(&self, by: &Subject, org: &str) -> Result<Vec<String>, Error> {
        require(by.may_manage())?;
        let org = org.to_owned();
        Ok(self.meta.read(move |r| r.teams(&org)).await?)
    }

    /// A team's members (any user with a full credential).
    pub async fn team_members(&self, by: &Subject, org: &str, team: &str) -> Result<Vec<String>, Error> {
        require(by.may_manage())?;
        let (org, team) = (org.to_owned(), team.to_owned());
        Ok(self.meta.read(move |r| r.team_members(&org, &team)).await?)
    }

    /// Adds a member to a team, or removes one (the organization's owners).
    pub async fn set_team_member(&self, by: &Subject, org: &str, team: &str, user: &str, member: bool) -> Result<(), Error> {
        require(owns_org(by, org))?;
        let command = SetTeamMember { org: org.to_owned(), team: team.to_owned(), user: user.to_owned(), member };
        self.apply(Command::SetTeamMember(command)).await
    }

    /// How a team's members come from the directory (the organization's owners).
    pub async fn team_sync(&self, by: &Subject, org: &str, team: &str) -> Result<Option<TeamSync>, Error> {
        require(owns_org(by, org))?;
        let (o, t) = (org.to_owned(), team.to_owned());
        let found = self.meta.read(move |r| r.team(&o, &t)).await?;
        Ok(found.ok_or(Error::Refused(Refusal::TeamUnknown))?.ldap_sync)
    }

    /// Links a team to an LDAP group or search (the organization's owners).
    pub async fn set_team_sync(&self, by: &Subject, org: &str, team: &str, sync: TeamSync) -> Result<(), Error> {
        require(owns_org(by, org))?;
        if sync.enabled {
            if sync.select_group_members && (sync.group_dn.is_empty() || sync.group_member_attribute.is_empty()) {
                return Err(Error::Invalid("groupDN and groupMemberAttr are required to sync a group's members".into()));
            }
            if !sync.select_group_members && sync.search_base_dn.is_empty() {
                return Err(Error::Invalid("searchBaseDN is required to sync the results of a search".into()));
            }
            let filter = &sync.search_filter;
            if !(filter.is_empty() || (filter.starts_with('(') && filter.ends_with(')'))) {
                return Err(Error::Invalid("searchFilter is an LDAP filter, written in parentheses".into()));
            }
        }
        let link = TeamLink {
            enabled: sync.enabled,
            select_group_members: sync.select_group_members,
            group_dn: sync.group_dn,
            group_member_attribute: sync.group_member_attribute,
            search_base_dn: sync.search_base_dn,
            search_filter: sync.search_filter,
            search_subtree: sync.search_subtree,
        };
        self.apply(Command::SetTeamSync(SetTeamSync { org: org.to_owned(), team: team.to_owned(), link: Some(link) })).await
    }

    /// Makes an access token for `user` (the user themself, or a system administrator),
    /// shown once. Its limits can only narrow what the user may do; it never expires in
    /// the past.
    pub async fn create_token(&self, by: &Subject, user: &str, new: NewToken) -> Result<CreatedToken, Error> {
        require(manages_user(by, user))?;
        if new.actions.contains(&Action::Admin) {
            return Err(Error::Invalid("a token is limited to pull, push and delete".into()));
        }
        if new.name.is_empty() || new.name.len() > 200 || new.repositories.len() > 100 {
            return Err(Error::Invalid("a token has a name of 1 to 200 bytes and at most 100 repositories".into()));
        }
        let generated = access_token::generate();
        let at = now();
        let record = AccessToken {
            user: user.to_owned(),
            name: new.name.clone(),
            secret_sha256: generated.secret_sha256.clone(),
            created_at: at,
            expires_at: new.expires_at,
            last_used: None,
            repositories: new.repositories.iter().map(ToString::to_string).collect(),
            actions: new.actions.clone(),
        };
        let command = CreateAccessToken {
            id: generated.id.clone(),
            user: user.to_owned(),
            name: new.name,
            secret_sha256: generated.secret_sha256,
            at,
            expires_at: new.expires_at,
            repositories: new.repositories,
            actions: new.actions,
        };
        self.apply(Command::CreateAccessToken(command)).await?;
        self.counters.access_token_created();
        Ok(CreatedToken { id: generated.id, text: generated.text, record })
    }

    /// A user's tokens, without their secrets (the user themself, or an administrator).
    pub async fn tokens(&self, by: &Subject, user: &str) -> Result<Vec<(String, AccessToken)>, Error> {
        require(manages_user(by, user))?;
        let user = user.to_owned();
        let mut tokens = self.meta.read(move |r| r.access_tokens(&user)).await?;
        // Uses not yet written by the flush job count too.
        for (id, token) in &mut tokens {
            token.last_used = token.last_used.max(self.pending_use(id));
        }
        Ok(tokens)
    }

    /// Revokes one of `user`'s tokens: it, and every token obtained with it, stop working
    /// at the next request.
    pub async fn revoke_token(&self, by: &Subject, user: &str, id: &str) -> Result<(), Error> {
        require(manages_user(by, user))?;
        let key = id.to_owned();
        let owned = self.meta.read(move |r| r.access_token(&key)).await?;
        if owned.is_none_or(|t| t.user != user) {
            return Err(Error::Refused(Refusal::TokenUnknown));
        }
        self.apply(Command::RevokeAccessToken(RevokeAccessToken { id: id.to_owned() })).await
    }

    /// Whether `by` administers `repository` with a credential that may manage grants.
    async fn administers_repository(&self, by: &Subject, repository: &str) -> Result<bool, Error> {
        Ok(by.may_manage() && self.may(by, repository, Action::Admin).await?)
    }

    /// Sets (or with `None` withdraws) a team's access to one repository (the
    /// repository's administrators). The team belongs to the repository's namespace.
    pub async fn set_repository_grant(
        &self,
        by: &Subject,
        repository: &RepositoryName,
        team: &str,
        level: Option<Level>,
    ) -> Result<(), Error> {
        require(self.administers_repository(by, repository.as_str()).await?)?;
        let org = repository.namespace().to_owned();
        let command = SetGrant { target: GrantTarget::Repository(repository.clone()), org, team: team.to_owned(), level };
        self.apply(Command::SetGrant(command)).await
    }

    /// Sets (or withdraws) a team's access to every repository of its organization's
    /// namespace (the organization's owners).
    pub async fn set_namespace_grant(&self, by: &Subject, namespace: &str, team: &str, level: Option<Level>) -> Result<(), Error> {
        require(owns_org(by, namespace))?;
        let command =
            SetGrant { target: GrantTarget::Namespace(namespace.to_owned()), org: namespace.to_owned(), team: team.to_owned(), level };
        self.apply(Command::SetGrant(command)).await
    }

    /// The teams with access to a repository (the repository's administrators).
    pub async fn repository_grants(&self, by: &Subject, repository: &str) -> Result<Vec<(String, String, Level)>, Error> {
        require(self.administers_repository(by, repository).await?)?;
        let repo = repository.to_owned();
        Ok(self.meta.read(move |r| r.repository_grants(&repo)).await?)
    }

    /// The teams with access to every repository of a namespace (its owners).
    pub async fn namespace_grants(&self, by: &Subject, namespace: &str) -> Result<Vec<(String, String, Level)>, Error> {
        require(owns_namespace(by, namespace))?;
        let ns = namespace.to_owned();
        Ok(self.meta.read(move |r| r.namespace_grants(&ns)).await?)
    }

    /// A user's effective access to a repository (the user themself, or an administrator).
    pub async fn effective_level(&self, by: &Subject, user: &str, repository: &str) -> Result<Option<Level>, Error> {
        require(manages_user(by, user))?;
        let subject =
            self.user_subject(user, crate::subject::Credential::Password).await?.ok_or(Error::Refused(Refusal::AccountUnknown))?;
        let repo = repository.to_owned();
        let facts = self.meta.read(move |r| Auth::facts(r, &repo)).await?;
        Ok(policy::level(subject.user.as_ref(), &facts))
    }

    /// Whether `by` administers `namespace`'s signing policy.
    pub fn owns_namespace(&self, by: &Subject, namespace: &str) -> bool {
        owns_namespace(by, namespace)
    }
}
