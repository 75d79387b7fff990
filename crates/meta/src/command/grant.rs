//! Team grants: an access level on one repository, or on every repository of a namespace.

use berth_core::{Level, RepositoryName};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::tables::{NAMESPACE_GRANTS, REPOSITORY_GRANTS, TEAMS};

/// What a grant applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GrantTarget {
    /// One repository.
    Repository(RepositoryName),
    /// Every repository of a namespace.
    Namespace(String),
}

/// Sets (or, with `level: None`, removes) a team's access level on a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetGrant {
    /// The repository or namespace.
    pub target: GrantTarget,
    /// The team's organization.
    pub org: String,
    /// The team.
    pub team: String,
    /// The level, or none.
    pub level: Option<Level>,
}

impl SetGrant {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if tx.open_table(TEAMS)?.get((self.org.as_str(), self.team.as_str()))?.is_none() {
            return Ok(Applied::Rejected(Rejection::TeamUnknown));
        }
        let (table, target) = match &self.target {
            GrantTarget::Repository(name) => (REPOSITORY_GRANTS, name.as_str()),
            GrantTarget::Namespace(name) => (NAMESPACE_GRANTS, name.as_str()),
        };
        let mut grants = tx.open_table(table)?;
        let key = (target, self.org.as_str(), self.team.as_str());
        match self.level {
            Some(level) => grants.insert(key, level.as_u8())?,
            None => grants.remove(key)?,
        };
        Ok(Applied::Done)
    }
}
