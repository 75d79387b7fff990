//! Every data table as one byte stream: what a snapshot sends to a replica that is too
//! far behind for the log, and what a backup holds.
//!
//! ```text
//! "berth-meta 1\n"
//! per table: u32 name length, name, then per entry: u8 1, u32 key length, key,
//!            u64 value length, value; then u8 0
//! u32 0 (no more tables)
//! ```
//! Integers are little-endian. Tables are written in [`visit_data_tables`]'s order and
//! read by name, so a stream from a release with fewer tables reads into this one.

use std::io::{Read, Write};

use redb::{ReadTransaction, ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use crate::Error;
use crate::tables::{TableVisitor, visit_data_tables};

const MAGIC: &[u8] = b"berth-meta 1\n";
/// The longest key or value read back (a manifest is at most a few MiB).
const MAX_FIELD: u64 = 256 << 20;

fn io(e: std::io::Error) -> Error {
    Error::Task(format!("snapshot I/O: {e}"))
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::Corrupt { table: "snapshot", detail: detail.into() }
}

/// Writes every data table of `tx` to `out`.
pub fn write(tx: &ReadTransaction, out: &mut impl Write) -> Result<(), Error> {
    struct Writer<'a, W> {
        tx: &'a ReadTransaction,
        out: &'a mut W,
    }
    impl<W: Write> TableVisitor for Writer<'_, W> {
        fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
            &mut self,
            definition: TableDefinition<'static, K, V>,
        ) -> Result<(), Error> {
            let name = definition.name().as_bytes();
            self.out.write_all(&(name.len() as u32).to_le_bytes()).map_err(io)?;
            self.out.write_all(name).map_err(io)?;
            let table = self.tx.open_table(definition)?;
            for entry in table.iter()? {
                let (key, value) = entry?;
                let (key, value) = (key.value(), value.value());
                let (key, value) = (K::as_bytes(&key), V::as_bytes(&value));
                let (key, value) = (key.as_ref(), value.as_ref());
                self.out.write_all(&[1]).map_err(io)?;
                self.out.write_all(&(key.len() as u32).to_le_bytes()).map_err(io)?;
                self.out.write_all(key).map_err(io)?;
                self.out.write_all(&(value.len() as u64).to_le_bytes()).map_err(io)?;
                self.out.write_all(value).map_err(io)?;
            }
            self.out.write_all(&[0]).map_err(io)
        }
    }
    out.write_all(MAGIC).map_err(io)?;
    visit_data_tables(&mut Writer { tx, out })?;
    out.write_all(&0u32.to_le_bytes()).map_err(io)
}

fn read_exact<const N: usize>(input: &mut impl Read) -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    input.read_exact(&mut buf).map_err(|e| corrupt(format!("truncated: {e}")))?;
    Ok(buf)
}

fn read_field(input: &mut impl Read, len: u64) -> Result<Vec<u8>, Error> {
    if len > MAX_FIELD {
        return Err(corrupt(format!("a field of {len} bytes")));
    }
    let mut buf = vec![0u8; len as usize];
    input.read_exact(&mut buf).map_err(|e| corrupt(format!("truncated: {e}")))?;
    Ok(buf)
}

/// Replaces every data table in `tx` with the tables read from `input`. On an error the
/// caller drops `tx`, and nothing changed.
pub fn read(tx: &WriteTransaction, input: &mut impl Read) -> Result<(), Error> {
    if read_field(input, MAGIC.len() as u64)? != MAGIC {
        return Err(corrupt("not a metadata stream (or written by a newer release)"));
    }
    struct Clear<'a>(&'a WriteTransaction);
    impl TableVisitor for Clear<'_> {
        fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
            &mut self,
            definition: TableDefinition<'static, K, V>,
        ) -> Result<(), Error> {
            self.0.delete_table(definition)?;
            self.0.open_table(definition)?;
            Ok(())
        }
    }
    visit_data_tables(&mut Clear(tx))?;

    /// Reads one table's entries into the table named `name`.
    struct Fill<'a, R> {
        tx: &'a WriteTransaction,
        input: &'a mut R,
        name: &'a str,
        found: bool,
    }
    impl<R: Read> TableVisitor for Fill<'_, R> {
        fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
            &mut self,
            definition: TableDefinition<'static, K, V>,
        ) -> Result<(), Error> {
            if definition.name() != self.name {
                return Ok(());
            }
            self.found = true;
            let mut table = self.tx.open_table(definition)?;
            loop {
                match read_exact::<1>(self.input)? {
                    [0] => return Ok(()),
                    [1] => {}
                    [other] => return Err(corrupt(format!("entry marker {other} in {}", self.name))),
                }
                let key_len = u32::from_le_bytes(read_exact(self.input)?);
                let key = read_field(self.input, u64::from(key_len))?;
                let value_len = u64::from_le_bytes(read_exact(self.input)?);
                let value = read_field(self.input, value_len)?;
                table.insert(K::from_bytes(&key), V::from_bytes(&value))?;
            }
        }
    }
    loop {
        let name_len = u32::from_le_bytes(read_exact(input)?);
        if name_len == 0 {
            return Ok(());
        }
        let name = String::from_utf8(read_field(input, u64::from(name_len))?).map_err(|_| corrupt("a table name is not UTF-8"))?;
        let mut fill = Fill { tx, input, name: &name, found: false };
        visit_data_tables(&mut fill)?;
        if !fill.found {
            return Err(corrupt(format!("unknown table {name} (written by a newer release?)")));
        }
    }
}
