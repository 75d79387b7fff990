//! Registry-wide settings (see `settings.rs` for each one's name and value type).

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::settings::Setting;
use crate::tables::{ACCOUNTS, SETTINGS};

/// Sets a setting, unless `only_if_absent` and it is already set (so that concurrent
/// first starts agree on one value, e.g. one signing key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutSetting {
    /// The setting and its value.
    pub setting: Setting,
    /// Keep an existing value.
    pub only_if_absent: bool,
}

impl PutSetting {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        // A namespace's settings belong to its account: none for a name no account holds
        // (they would pass to whoever takes the name).
        if let Setting::NamespacePolicy { namespace, .. } | Setting::NamespaceQuota { namespace, .. } = &self.setting
            && tx.open_table(ACCOUNTS)?.get(namespace.as_str())?.is_none()
        {
            return Ok(Applied::Rejected(Rejection::NamespaceUnknown));
        }
        let mut settings = tx.open_table(SETTINGS)?;
        let name = self.setting.name();
        if self.only_if_absent && settings.get(name.as_str())?.is_some() {
            return Ok(Applied::Done);
        }
        settings.insert(name.as_str(), self.setting.value().as_slice())?;
        Ok(Applied::Done)
    }
}
