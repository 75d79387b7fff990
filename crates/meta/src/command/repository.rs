//! Repositories come into being with their first blob or manifest.

use redb::{ReadableTable, WriteTransaction};

use crate::Error;
use crate::records::{self, Repository};
use crate::tables::REPOSITORIES;

/// Creates `name` at `at` unless it exists.
pub(super) fn ensure_repository(tx: &WriteTransaction, name: &str, at: u64) -> Result<(), Error> {
    let mut table = tx.open_table(REPOSITORIES)?;
    if table.get(name)?.is_none() {
        table.insert(name, records::encode(&Repository { created_at: at }).as_slice())?;
    }
    Ok(())
}
