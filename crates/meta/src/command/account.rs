//! Users and organizations (one namespace for both), and their teams and members.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::repository::namespace_in_use;
use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, Account, AccountKind, Team, TeamSync};
use crate::settings::Setting;
use crate::tables::{
    ACCESS_TOKENS, ACCOUNTS, MEMBERSHIPS, NAMESPACE_GRANTS, REPOSITORY_GRANTS, SETTINGS, TEAM_MEMBERS, TEAMS, keys_under, pairs_under,
};

/// The team every organization has, whose members administer it.
pub const OWNERS_TEAM: &str = "owners";

/// Creates a user or an organization (with its `owners` team). Refused if the name is
/// taken, or if repositories already live in the namespace and the command does not say
/// to adopt them (an administrator's explicit decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAccount {
    /// The name, which is also the namespace.
    pub name: String,
    /// User or organization.
    pub kind: AccountKind,
    /// Display name.
    pub full_name: String,
    /// E-mail address.
    pub email: String,
    /// argon2id PHC string (users with a local password).
    pub password_hash: Option<String>,
    /// Whether a user may log in.
    pub active: bool,
    /// A system administrator.
    pub admin: bool,
    /// The LDAP entry the account comes from.
    pub ldap_dn: Option<String>,
    /// When.
    pub at: u64,
    /// Take over the repositories already in the namespace.
    pub adopt_repositories: bool,
}

impl CreateAccount {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if tx.open_table(ACCOUNTS)?.get(self.name.as_str())?.is_some() {
            return Ok(Applied::Rejected(Rejection::AccountExists));
        }
        if !self.adopt_repositories && namespace_in_use(tx, &self.name)? {
            return Ok(Applied::Rejected(Rejection::NamespaceInUse));
        }
        let account = Account {
            kind: self.kind,
            full_name: self.full_name,
            email: self.email,
            password_hash: self.password_hash,
            active: self.active,
            admin: self.admin && self.kind == AccountKind::User,
            ldap_dn: self.ldap_dn,
            created_at: self.at,
            credential_epoch: 0,
        };
        tx.open_table(ACCOUNTS)?.insert(self.name.as_str(), records::encode(&account).as_slice())?;
        if self.kind == AccountKind::Org {
            let team = Team { description: "Owners of the organization".into(), created_at: self.at, ldap_sync: None };
            tx.open_table(TEAMS)?.insert((self.name.as_str(), OWNERS_TEAM), records::encode(&team).as_slice())?;
        }
        Ok(Applied::Done)
    }
}

/// Changes some fields of an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateAccount {
    /// The account.
    pub name: String,
    /// New display name.
    pub full_name: Option<String>,
    /// New e-mail address.
    pub email: Option<String>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// Grant or withdraw system administration.
    pub admin: Option<bool>,
    /// The LDAP entry the account now comes from.
    pub ldap_dn: Option<String>,
}

impl UpdateAccount {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut accounts = tx.open_table(ACCOUNTS)?;
        let Some(mut account) = accounts.get(self.name.as_str())?.map(|v| records::decode::<Account>("accounts", v.value())).transpose()?
        else {
            return Ok(Applied::Rejected(Rejection::AccountUnknown));
        };
        let was_administrator = is_administrator(&account);
        // A new password or a change of state ends every credential derived from the old one.
        if self.password_hash.is_some() || self.active.is_some_and(|a| a != account.active) {
            account.credential_epoch += 1;
        }
        account.full_name = self.full_name.unwrap_or(account.full_name);
        account.email = self.email.unwrap_or(account.email);
        account.password_hash = self.password_hash.or(account.password_hash);
        account.active = self.active.unwrap_or(account.active);
        account.admin = self.admin.unwrap_or(account.admin);
        account.ldap_dn = self.ldap_dn.or(account.ldap_dn);
        if was_administrator && !is_administrator(&account) && !other_administrator(&accounts, &self.name)? {
            return Ok(Applied::Rejected(Rejection::LastAdministrator));
        }
        accounts.insert(self.name.as_str(), records::encode(&account).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes an account with its memberships, its teams and their grants (an org), its
/// tokens (a user), and its namespace's settings and grants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteAccount {
    /// The account.
    pub name: String,
}

impl DeleteAccount {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let name = self.name.as_str();
        {
            let accounts = tx.open_table(ACCOUNTS)?;
            let Some(account) = accounts.get(name)?.map(|v| records::decode::<Account>("accounts", v.value())).transpose()? else {
                return Ok(Applied::Rejected(Rejection::AccountUnknown));
            };
            if is_administrator(&account) && !other_administrator(&accounts, name)? {
                return Ok(Applied::Rejected(Rejection::LastAdministrator));
            }
        }
        // Its repositories would pass to whoever takes the name next.
        if namespace_in_use(tx, name)? {
            return Ok(Applied::Rejected(Rejection::NamespaceInUse));
        }
        tx.open_table(ACCOUNTS)?.remove(name)?;
        // As a user: leave every team.
        let mut memberships = tx.open_table(MEMBERSHIPS)?;
        let mut members = tx.open_table(TEAM_MEMBERS)?;
        let mine = pairs_under(&memberships, name)?;
        for (org, team) in mine {
            memberships.remove((name, org.as_str(), team.as_str()))?;
            members.remove((org.as_str(), team.as_str(), name))?;
        }
        drop(memberships);
        drop(members);
        // As an org: drop its teams with their members and grants.
        let teams = keys_under(&tx.open_table(TEAMS)?, name)?;
        for team in teams {
            drop_team(tx, name, &team)?;
        }
        // The namespace's own settings and grants: none may pass to whoever takes the name.
        let mut settings = tx.open_table(SETTINGS)?;
        for setting in Setting::namespace_settings(name) {
            settings.remove(setting.as_str())?;
        }
        let mut grants = tx.open_table(NAMESPACE_GRANTS)?;
        let held: Vec<(String, String)> = pairs_under(&grants, name)?;
        for (org, team) in held {
            grants.remove((name, org.as_str(), team.as_str()))?;
        }
        let mut tokens = tx.open_table(ACCESS_TOKENS)?;
        let mut owned = Vec::new();
        for entry in tokens.iter()? {
            let (id, value) = entry?;
            if records::decode::<records::AccessToken>("access_tokens", value.value())?.user == name {
                owned.push(id.value().to_owned());
            }
        }
        for id in owned {
            tokens.remove(id.as_str())?;
        }
        Ok(Applied::Done)
    }
}

fn is_administrator(account: &Account) -> bool {
    account.kind == AccountKind::User && account.admin && account.active
}

/// Whether an active system administrator other than `name` exists.
fn other_administrator(accounts: &impl ReadableTable<&'static str, &'static [u8]>, name: &str) -> Result<bool, Error> {
    for entry in accounts.iter()? {
        let (key, value) = entry?;
        if key.value() != name && is_administrator(&records::decode::<Account>("accounts", value.value())?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Creates a team in an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateTeam {
    /// The organization.
    pub org: String,
    /// The team's name.
    pub team: String,
    /// What it is for.
    pub description: String,
    /// When.
    pub at: u64,
}

impl CreateTeam {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if let Some(rejection) = org_rejection(tx, &self.org)? {
            return Ok(Applied::Rejected(rejection));
        }
        let mut teams = tx.open_table(TEAMS)?;
        if teams.get((self.org.as_str(), self.team.as_str()))?.is_some() {
            return Ok(Applied::Rejected(Rejection::TeamExists));
        }
        let record = Team { description: self.description, created_at: self.at, ldap_sync: None };
        teams.insert((self.org.as_str(), self.team.as_str()), records::encode(&record).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes a team of an organization with its memberships, its grants and its directory
/// link. The `owners` team stays: it is who administers the organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteTeam {
    /// The organization.
    pub org: String,
    /// The team.
    pub team: String,
}

impl DeleteTeam {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let (org, team) = (self.org.as_str(), self.team.as_str());
        let teams = tx.open_table(TEAMS)?;
        if teams.get((org, team))?.is_none() {
            return Ok(Applied::Rejected(Rejection::TeamUnknown));
        }
        if team == OWNERS_TEAM {
            return Ok(Applied::Rejected(Rejection::OwnersTeamKept));
        }
        drop(teams);
        drop_team(tx, org, team)?;
        Ok(Applied::Done)
    }
}

/// Removes a team with its memberships, its grants and its directory link (its row).
fn drop_team(tx: &WriteTransaction, org: &str, team: &str) -> Result<(), Error> {
    tx.open_table(TEAMS)?.remove((org, team))?;
    let (mut members, mut memberships) = (tx.open_table(TEAM_MEMBERS)?, tx.open_table(MEMBERSHIPS)?);
    let users: Vec<String> = pairs_under(&members, org)?.into_iter().filter(|(t, _)| t == team).map(|(_, user)| user).collect();
    for user in users {
        members.remove((org, team, user.as_str()))?;
        memberships.remove((user.as_str(), org, team))?;
    }
    // Grants are keyed by target first; a team's are found by a scan (teams are few and
    // deleting one is rare).
    for table in [REPOSITORY_GRANTS, NAMESPACE_GRANTS] {
        let mut grants = tx.open_table(table)?;
        let mut held = Vec::new();
        for entry in grants.iter()? {
            let (key, _) = entry?;
            let (target, grant_org, grant_team) = key.value();
            if grant_org == org && grant_team == team {
                held.push(target.to_owned());
            }
        }
        for target in held {
            grants.remove((target.as_str(), org, team))?;
        }
    }
    Ok(())
}

/// `None` when `org` is an organization, else why not.
fn org_rejection(tx: &WriteTransaction, org: &str) -> Result<Option<Rejection>, Error> {
    let accounts = tx.open_table(ACCOUNTS)?;
    let account = accounts.get(org)?.map(|v| records::decode::<Account>("accounts", v.value())).transpose()?;
    Ok(match account {
        None => Some(Rejection::AccountUnknown),
        Some(a) if a.kind != AccountKind::Org => Some(Rejection::NotAnOrganization),
        Some(_) => None,
    })
}

/// Adds a user to a team, or removes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTeamMember {
    /// The organization.
    pub org: String,
    /// The team.
    pub team: String,
    /// The user.
    pub user: String,
    /// Member or not.
    pub member: bool,
}

impl SetTeamMember {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if tx.open_table(TEAMS)?.get((self.org.as_str(), self.team.as_str()))?.is_none() {
            return Ok(Applied::Rejected(Rejection::TeamUnknown));
        }
        let user =
            tx.open_table(ACCOUNTS)?.get(self.user.as_str())?.map(|v| records::decode::<Account>("accounts", v.value())).transpose()?;
        if !user.is_some_and(|u| u.kind == AccountKind::User) {
            return Ok(Applied::Rejected(Rejection::AccountUnknown));
        }
        let (org, team, user) = (self.org.as_str(), self.team.as_str(), self.user.as_str());
        let (mut members, mut memberships) = (tx.open_table(TEAM_MEMBERS)?, tx.open_table(MEMBERSHIPS)?);
        if self.member {
            members.insert((org, team, user), ())?;
            memberships.insert((user, org, team), ())?;
        } else {
            members.remove((org, team, user))?;
            memberships.remove((user, org, team))?;
        }
        Ok(Applied::Done)
    }
}

/// How a team's members come from the directory, as a command carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamLink {
    /// Whether the sync job sets the team's members.
    pub enabled: bool,
    /// `true`: the members of a group; `false`: the results of a search.
    pub select_group_members: bool,
    /// The group entry.
    pub group_dn: String,
    /// The group's member attribute.
    pub group_member_attribute: String,
    /// Where the search starts.
    pub search_base_dn: String,
    /// The search filter.
    pub search_filter: String,
    /// Whole subtree or one level.
    pub search_subtree: bool,
}

/// Links a team to the LDAP directory (or unlinks it with `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTeamSync {
    /// The organization.
    pub org: String,
    /// The team.
    pub team: String,
    /// The new link.
    pub link: Option<TeamLink>,
}

impl SetTeamSync {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut teams = tx.open_table(TEAMS)?;
        let key = (self.org.as_str(), self.team.as_str());
        let Some(mut team) = teams.get(key)?.map(|v| records::decode::<Team>("teams", v.value())).transpose()? else {
            return Ok(Applied::Rejected(Rejection::TeamUnknown));
        };
        team.ldap_sync = self.link.map(|l| TeamSync {
            enabled: l.enabled,
            select_group_members: l.select_group_members,
            group_dn: l.group_dn,
            group_member_attribute: l.group_member_attribute,
            search_base_dn: l.search_base_dn,
            search_filter: l.search_filter,
            search_subtree: l.search_subtree,
        });
        teams.insert(key, records::encode(&team).as_slice())?;
        Ok(Applied::Done)
    }
}
