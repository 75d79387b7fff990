//! Registry-wide settings (the token signing key, anonymous pulls, …).

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::Applied;
use crate::Error;
use crate::tables::SETTINGS;

/// Sets a setting, unless `only_if_absent` and it is already set (so that concurrent
/// first starts agree on one value, e.g. one signing key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutSetting {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: serde_json::Value,
    /// Keep an existing value.
    pub only_if_absent: bool,
}

impl PutSetting {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut settings = tx.open_table(SETTINGS)?;
        if self.only_if_absent && settings.get(self.name.as_str())?.is_some() {
            return Ok(Applied::Done);
        }
        settings.insert(self.name.as_str(), serde_json::to_vec(&self.value).unwrap_or_default().as_slice())?;
        Ok(Applied::Done)
    }
}
