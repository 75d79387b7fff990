//! Accounts, teams, memberships, grants, access tokens and settings.

use berth_core::Level;
use redb::ReadableTable;

use super::{Listing, Page, Reader};
use crate::Error;
use crate::records::{self, AccessToken, Account, Repository, Team, TeamSync};
use crate::tables::{
    ACCESS_TOKENS, ACCOUNTS, MEMBERSHIPS, NAMESPACE_GRANTS, REPOSITORIES, REPOSITORY_GRANTS, TEAM_MEMBERS, TEAMS, pairs_under,
};

/// A team's grant: (org, team, level).
pub type Grant = (String, String, Level);

impl Reader {
    /// An account by name.
    pub fn account(&self, name: &str) -> Result<Option<Account>, Error> {
        let table = self.tx.open_table(ACCOUNTS)?;
        let value = table.get(name)?;
        value.map(|v| records::decode("accounts", v.value())).transpose()
    }

    /// A page of account names, sorted.
    pub fn accounts(&self, page: &Page) -> Result<Listing, Error> {
        let table = self.tx.open_table(ACCOUNTS)?;
        let start = page.last.as_deref().map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let limit = page.n.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut more = false;
        for entry in table.range::<&str>((start, std::ops::Bound::Unbounded))? {
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(entry?.0.value().to_owned());
        }
        Ok(Listing { items, more })
    }

    /// A repository's record.
    pub fn repository(&self, name: &str) -> Result<Option<Repository>, Error> {
        let table = self.tx.open_table(REPOSITORIES)?;
        let value = table.get(name)?;
        value.map(|v| records::decode("repositories", v.value())).transpose()
    }

    /// A team.
    pub fn team(&self, org: &str, team: &str) -> Result<Option<Team>, Error> {
        let table = self.tx.open_table(TEAMS)?;
        let value = table.get((org, team))?;
        value.map(|v| records::decode("teams", v.value())).transpose()
    }

    /// The team names of an organization, sorted.
    pub fn teams(&self, org: &str) -> Result<Vec<String>, Error> {
        Ok(self.page_in_scope(TEAMS, org, &Page::default())?.items)
    }

    /// The accounts that come from the LDAP directory, with their records.
    pub fn directory_accounts(&self) -> Result<Vec<(String, Account)>, Error> {
        let table = self.tx.open_table(ACCOUNTS)?;
        let mut found = Vec::new();
        for entry in table.iter()? {
            let (name, value) = entry?;
            let account: Account = records::decode("accounts", value.value())?;
            if account.ldap_dn.is_some() {
                found.push((name.value().to_owned(), account));
            }
        }
        Ok(found)
    }

    /// The teams linked to the LDAP directory with sync enabled: (org, team, how).
    pub fn synced_teams(&self) -> Result<Vec<(String, String, TeamSync)>, Error> {
        let table = self.tx.open_table(TEAMS)?;
        let mut found = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let team: Team = records::decode("teams", value.value())?;
            if let Some(sync) = team.ldap_sync.filter(|s| s.enabled) {
                let (org, name) = key.value();
                found.push((org.to_owned(), name.to_owned(), sync));
            }
        }
        Ok(found)
    }

    /// The members of a team, sorted.
    pub fn team_members(&self, org: &str, team: &str) -> Result<Vec<String>, Error> {
        let members = pairs_under(&self.tx.open_table(TEAM_MEMBERS)?, org)?;
        Ok(members.into_iter().filter(|(t, _)| t == team).map(|(_, user)| user).collect())
    }

    /// The (org, team) pairs a user belongs to.
    pub fn memberships(&self, user: &str) -> Result<Vec<(String, String)>, Error> {
        pairs_under(&self.tx.open_table(MEMBERSHIPS)?, user)
    }

    /// Team grants on one repository.
    pub fn repository_grants(&self, repository: &str) -> Result<Vec<Grant>, Error> {
        self.grants(REPOSITORY_GRANTS, repository)
    }

    /// Team grants on a whole namespace.
    pub fn namespace_grants(&self, namespace: &str) -> Result<Vec<Grant>, Error> {
        self.grants(NAMESPACE_GRANTS, namespace)
    }

    fn grants(&self, table: redb::TableDefinition<(&str, &str, &str), u8>, target: &str) -> Result<Vec<Grant>, Error> {
        let table = self.tx.open_table(table)?;
        let mut grants = Vec::new();
        for entry in table.range((target, "", "")..)? {
            let (key, level) = entry?;
            let (t, org, team) = key.value();
            if t != target {
                break;
            }
            let level = Level::from_u8(level.value())
                .ok_or_else(|| Error::Corrupt { table: "grants", detail: format!("level {}", level.value()) })?;
            grants.push((org.to_owned(), team.to_owned(), level));
        }
        Ok(grants)
    }

    /// An access token by id.
    pub fn access_token(&self, id: &str) -> Result<Option<AccessToken>, Error> {
        let table = self.tx.open_table(ACCESS_TOKENS)?;
        let value = table.get(id)?;
        value.map(|v| records::decode("access_tokens", v.value())).transpose()
    }

    /// A user's access tokens, with their ids.
    pub fn access_tokens(&self, user: &str) -> Result<Vec<(String, AccessToken)>, Error> {
        let table = self.tx.open_table(ACCESS_TOKENS)?;
        let mut tokens = Vec::new();
        for entry in table.iter()? {
            let (id, value) = entry?;
            let token: AccessToken = records::decode("access_tokens", value.value())?;
            if token.user == user {
                tokens.push((id.value().to_owned(), token));
            }
        }
        Ok(tokens)
    }

    /// A web UI session, if one has this id.
    pub fn session(&self, id: &str) -> Result<Option<crate::records::Session>, Error> {
        let table = self.tx.open_table(crate::tables::SESSIONS)?;
        let value = table.get(id)?;
        value.map(|v| crate::records::decode("sessions", v.value())).transpose()
    }
}
