//! The trust service over the metadata store: serve files by role, version or checksum;
//! accept updates (validate, then sign the next snapshot and timestamp, then one
//! compare-and-set command); hand out and rotate the server-held keys; delete a GUN.
//!
//! Reads answer from the store without cryptography, except when the current timestamp
//! has expired: it is re-signed (version + 1) and stored before it is served.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_meta::command::{DeleteTrust, PutTrustKey, PutTrustMetadata, TrustFile};
use berth_meta::{Applied, Command, Meta, Rejection, TrustKey};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::keys::{ServerKey, public_of};
use crate::tuf::{MetaList, Parsed, Root, SNAPSHOT_EXPIRY_DAYS, Signature, TIMESTAMP_EXPIRY_DAYS, Targets, file_meta, sha256_hex, valid_role};
use crate::validate::{self, Invalid, expired};
use crate::{Error, canonical};

/// Which version of a role a read names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `<role>.json`.
    Current,
    /// `<N>.<role>.json`.
    Version(u64),
    /// `<role>.<sha256 hex>.json`.
    Checksum(String),
}

/// A tag signed in a GUN's trust data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedTarget {
    /// The signed manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// The role that signed it (`targets` or `targets/releases`).
    pub role: String,
}

/// The trust service.
#[derive(Clone)]
pub struct Trust {
    meta: Meta,
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `{"signed":<canonical>,"signatures":[…]}`, the layout Notary writes.
fn envelope(signed: &impl serde::Serialize, signatures: &[Signature]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let canonical_signed = canonical::encode(signed).map_err(|e| Error::Crypto(e.to_string()))?;
    let sigs = canonical::encode(&signatures).map_err(|e| Error::Crypto(e.to_string()))?;
    let mut out = Vec::with_capacity(canonical_signed.len() + sigs.len() + 32);
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(&canonical_signed);
    out.extend_from_slice(b",\"signatures\":");
    out.extend_from_slice(&sigs);
    out.push(b'}');
    Ok((out, canonical_signed))
}

/// Signs `signed` with `key`.
fn sign_file(signed: &MetaList, key: &ServerKey) -> Result<Vec<u8>, Error> {
    let canonical_signed = canonical::encode(signed).map_err(|e| Error::Crypto(e.to_string()))?;
    let sig = key.sign(&canonical_signed);
    Ok(envelope(signed, &[sig])?.0)
}

fn expiry(now: OffsetDateTime, days: i64) -> String {
    (now + Duration::days(days)).format(&Rfc3339).unwrap_or_default()
}

/// The held key the root names for `role`, if any.
fn held_key(root: &Root, role: &str, held: &[(String, TrustKey)]) -> Result<Option<ServerKey>, Error> {
    let Some(listed) = root.roles.get(role) else { return Ok(None) };
    match held.iter().find(|(id, _)| listed.keyids.contains(id)) {
        Some((_, record)) => Ok(Some(ServerKey::from_record(record)?)),
        None => Ok(None),
    }
}

fn version_of(bytes: &[u8]) -> u64 {
    Parsed::parse(bytes.to_vec()).map_or(0, |p| p.common.version)
}

fn file(role: &str, bytes: Vec<u8>) -> TrustFile {
    TrustFile { role: role.to_owned(), version: version_of(&bytes), sha256: sha256_hex(&bytes), bytes }
}

impl Trust {
    /// The service over `meta`.
    pub fn new(meta: Meta) -> Trust {
        Trust { meta }
    }

    /// A metadata file; `MetadataNotFound` when absent. A current timestamp that has
    /// expired is re-signed first.
    pub async fn get(&self, gun: &str, role: &str, selector: Selector) -> Result<Vec<u8>, Error> {
        if !valid_role(role) {
            return Err(Error::MetadataNotFound);
        }
        let (g, r) = (gun.to_owned(), role.to_owned());
        let found = match selector.clone() {
            Selector::Current => self.meta.read(move |reader| Ok(reader.trust_current(&g, &r)?.map(|(_, b)| b))).await?,
            Selector::Version(v) => self.meta.read(move |reader| reader.trust_version(&g, &r, v)).await?,
            Selector::Checksum(sum) => self.meta.read(move |reader| reader.trust_by_checksum(&g, &r, &sum)).await?,
        };
        let bytes = found.ok_or(Error::MetadataNotFound)?;
        if role == "timestamp" && selector == Selector::Current {
            let now = OffsetDateTime::now_utc();
            if Parsed::parse(bytes.clone()).is_none_or(|p| expired(&p.common.expires, now)) {
                return self.resign_timestamp(gun, now).await;
            }
        }
        Ok(bytes)
    }

    async fn resign_timestamp(&self, gun: &str, now: OffsetDateTime) -> Result<Vec<u8>, Error> {
        let g = gun.to_owned();
        let (state, held) = self.meta.read(move |r| Ok((r.trust_state(&g)?, r.trust_keys(&g, "timestamp")?))).await?;
        let root: Root = state.get("root").and_then(|(_, b)| Parsed::parse(b.clone())).and_then(|p| p.signed()).ok_or(Error::MetadataNotFound)?;
        let (_, snapshot) = state.get("snapshot").ok_or(Error::MetadataNotFound)?;
        let key = held_key(&root, "timestamp", &held)?.ok_or(Error::InvalidUpdate(Invalid::BadRoot("no timestamp keys exist on the server".into())))?;
        let previous = state.get("timestamp").map_or(0, |(v, _)| *v);
        let bytes = timestamp(snapshot, previous + 1, &key, now)?;
        let repository = berth_core::split_host(gun).1.to_owned();
        let put = PutTrustMetadata { gun: gun.to_owned(), repository, files: vec![file("timestamp", bytes.clone())] };
        match self.meta.apply(Command::PutTrustMetadata(put)).await? {
            Applied::Done => Ok(bytes),
            // Another request re-signed it first: serve theirs.
            Applied::Rejected(_) => {
                let g = gun.to_owned();
                self.meta.read(move |r| Ok(r.trust_current(&g, "timestamp")?.map(|(_, b)| b))).await?.ok_or(Error::MetadataNotFound)
            }
        }
    }

    /// Applies an update: `parts` are (file name, bytes) as uploaded. Validates with
    /// Notary's rules, signs the next snapshot (unless one was uploaded) and timestamp,
    /// and stores everything at once, or nothing.
    pub async fn update(&self, gun: &str, parts: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let mut update = BTreeMap::new();
        for (name, bytes) in parts {
            let role = name.strip_suffix(".json").unwrap_or(&name).to_owned();
            if !valid_role(&role) {
                return Err(Error::InvalidRole(name));
            }
            let parsed = Parsed::parse(bytes).ok_or_else(|| Error::MalformedJson(role.clone()))?;
            // The server always signs the timestamp; an uploaded one is ignored (as Notary does).
            if role != "timestamp" {
                update.insert(role, parsed);
            }
        }
        if update.is_empty() {
            return Err(Error::InvalidUpdate(Invalid::Validation("the update holds no metadata".into())));
        }
        let g = gun.to_owned();
        let (stored, held_snapshot, held_timestamp) =
            self.meta.read(move |r| Ok((r.trust_state(&g)?, r.trust_keys(&g, "snapshot")?, r.trust_keys(&g, "timestamp")?))).await?;
        let now = OffsetDateTime::now_utc();
        let checked = validate::check(gun, &stored, &update, now)?;

        let mut files: Vec<TrustFile> = update.iter().map(|(role, p)| file(role, p.bytes.clone())).collect();
        let snapshot_bytes = match update.get("snapshot") {
            Some(p) => p.bytes.clone(),
            None => {
                let key = held_key(&checked.root, "snapshot", &held_snapshot)?.ok_or_else(|| {
                    Error::InvalidUpdate(Invalid::BadHierarchy {
                        missing: "snapshot".into(),
                        msg: "no snapshot was included in update and server does not hold current snapshot key for repository".into(),
                    })
                })?;
                let meta = checked.files.iter().filter(|(role, _)| *role != "snapshot" && *role != "timestamp").map(|(role, b)| (role.clone(), file_meta(b))).collect();
                let version = stored.get("snapshot").map_or(0, |(v, _)| *v) + 1;
                let signed = MetaList { kind: "Snapshot".into(), expires: expiry(now, SNAPSHOT_EXPIRY_DAYS), meta, version };
                let bytes = sign_file(&signed, &key)?;
                files.push(file("snapshot", bytes.clone()));
                bytes
            }
        };
        let key = held_key(&checked.root, "timestamp", &held_timestamp)?
            .ok_or(Error::InvalidUpdate(Invalid::BadRoot("no timestamp keys exist on the server".into())))?;
        let version = stored.get("timestamp").map_or(0, |(v, _)| *v) + 1;
        files.push(file("timestamp", timestamp(&snapshot_bytes, version, &key, now)?));

        let repository = berth_core::split_host(gun).1.to_owned();
        match self.meta.apply(Command::PutTrustMetadata(PutTrustMetadata { gun: gun.to_owned(), repository, files })).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::TrustVersionStale(role)) => Err(Error::OldVersion(role)),
            Applied::Rejected(other) => Err(Error::Crypto(format!("unexpected refusal {other:?}"))),
        }
    }

    /// The public server key of `role` (`timestamp` or `snapshot`) as JSON: the one the
    /// current root names if the server holds it, else the newest held key, created on
    /// first request.
    pub async fn key(&self, gun: &str, role: &str) -> Result<Vec<u8>, Error> {
        if let Some(found) = self.current_key(gun, role).await? {
            return Ok(found);
        }
        let (id, record) = ServerKey::generate(now_millis())?;
        let put = PutTrustKey { gun: gun.to_owned(), role: role.to_owned(), key_id: id, key: record, only_if_none: true };
        self.meta.apply(Command::PutTrustKey(put)).await?;
        self.current_key(gun, role).await?.ok_or(Error::MetadataNotFound)
    }

    async fn current_key(&self, gun: &str, role: &str) -> Result<Option<Vec<u8>>, Error> {
        let (g, r) = (gun.to_owned(), role.to_owned());
        let (root, held) = self.meta.read(move |reader| Ok((reader.trust_current(&g, "root")?, reader.trust_keys(&g, &r)?))).await?;
        let root: Option<Root> = root.and_then(|(_, b)| Parsed::parse(b)).and_then(|p| p.signed());
        let listed = root.as_ref().and_then(|root| root.roles.get(role)).map(|l| l.keyids.clone()).unwrap_or_default();
        let chosen = held.iter().find(|(id, _)| listed.contains(id)).or_else(|| held.iter().max_by_key(|(_, k)| k.created_at));
        Ok(chosen.map(|(_, record)| json!(public_of(record)).to_string().into_bytes()))
    }

    /// Creates a new server key for `role` and returns it; the client then publishes a
    /// root naming it.
    pub async fn rotate_key(&self, gun: &str, role: &str) -> Result<Vec<u8>, Error> {
        let (id, record) = ServerKey::generate(now_millis())?;
        let public = json!(public_of(&record)).to_string().into_bytes();
        let put = PutTrustKey { gun: gun.to_owned(), role: role.to_owned(), key_id: id, key: record, only_if_none: false };
        self.meta.apply(Command::PutTrustKey(put)).await?;
        Ok(public)
    }

    /// Deletes all trust data of a GUN (idempotent).
    pub async fn delete(&self, gun: &str) -> Result<(), Error> {
        self.meta.apply(Command::DeleteTrust(DeleteTrust { gun: gun.to_owned() })).await?;
        Ok(())
    }

    /// The tags signed for `repository` under any of its GUNs, as a trusted pull sees them:
    /// `targets/releases` first, then `targets`.
    pub async fn signed_tags(&self, repository: &str) -> Result<BTreeMap<String, TrustedTarget>, Error> {
        let repo = repository.to_owned();
        let files = self
            .meta
            .read(move |r| {
                let mut out = Vec::new();
                for gun in r.trust_guns(&repo)? {
                    for role in ["targets", "targets/releases"] {
                        if let Some((_, bytes)) = r.trust_current(&gun, role)? {
                            out.push((role.to_owned(), bytes));
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        let mut tags = BTreeMap::new();
        for (role, bytes) in files {
            let Some(targets) = Parsed::parse(bytes).and_then(|p| p.signed::<Targets>()) else { continue };
            for (tag, meta) in targets.targets {
                let Some(digest) = meta.hashes.get("sha256").and_then(|h| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(h).ok()
                }) else {
                    continue;
                };
                tags.insert(tag, TrustedTarget { digest: format!("sha256:{}", hex::encode(digest)), role: role.clone() });
            }
        }
        Ok(tags)
    }
}

/// A timestamp over `snapshot`.
fn timestamp(snapshot: &[u8], version: u64, key: &ServerKey, now: OffsetDateTime) -> Result<Vec<u8>, Error> {
    let mut meta = BTreeMap::new();
    meta.insert("snapshot".to_owned(), file_meta(snapshot));
    sign_file(&MetaList { kind: "Timestamp".into(), expires: expiry(now, TIMESTAMP_EXPIRY_DAYS), meta, version }, key)
}
