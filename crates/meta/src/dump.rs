//! Every table's entries, in key order, as bytes: two stores hold the same metadata
//! exactly when their dumps are equal. What the replay test compares (and what a
//! backup will copy).

use redb::{ReadTransaction, ReadableTable, TableDefinition, TableHandle};

use crate::Error;
use crate::query::Reader;
use crate::tables::*;

fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &ReadTransaction,
    definition: TableDefinition<K, V>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let table = tx.open_table(definition)?;
    let mut field = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    field(definition.name().as_bytes());
    for entry in table.iter()? {
        let (key, value) = entry?;
        field(K::as_bytes(&key.value()).as_ref());
        field(V::as_bytes(&value.value()).as_ref());
    }
    Ok(())
}

impl Reader {
    /// Every data table's name and entries (key and value bytes, length-prefixed), in a
    /// fixed table order and in key order. (The `meta` table's bookkeeping, such as the
    /// applied index, is not data: [`Reader::last_applied`] reads it.)
    pub fn dump(&self) -> Result<Vec<u8>, Error> {
        let tx = &self.tx;
        let mut out = Vec::new();
        table(tx, REPOSITORIES, &mut out)?;
        table(tx, BLOB_LINKS, &mut out)?;
        table(tx, MANIFESTS, &mut out)?;
        table(tx, MANIFEST_REPOSITORIES, &mut out)?;
        table(tx, MANIFEST_CONTENT, &mut out)?;
        table(tx, TAGS, &mut out)?;
        table(tx, REFERRERS, &mut out)?;
        table(tx, ACCOUNTS, &mut out)?;
        table(tx, TEAMS, &mut out)?;
        table(tx, TEAM_MEMBERS, &mut out)?;
        table(tx, MEMBERSHIPS, &mut out)?;
        table(tx, REPOSITORY_GRANTS, &mut out)?;
        table(tx, NAMESPACE_GRANTS, &mut out)?;
        table(tx, ACCESS_TOKENS, &mut out)?;
        table(tx, SETTINGS, &mut out)?;
        table(tx, TRUST_FILES, &mut out)?;
        table(tx, TRUST_CHECKSUMS, &mut out)?;
        table(tx, TRUST_CURRENT, &mut out)?;
        table(tx, TRUST_KEYS, &mut out)?;
        table(tx, TRUST_GUNS, &mut out)?;
        table(tx, SIGNED_TAGS, &mut out)?;
        Ok(out)
    }
}
