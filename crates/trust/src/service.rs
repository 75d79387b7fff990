//! The trust service over the metadata store: serve files by role, version or checksum;
//! accept updates (validate, then sign the next snapshot and timestamp, then one
//! compare-and-set command); hand out and rotate the server-held keys; delete a GUN.
//!
//! One trust collection per repository: a GUN is accepted only when its host is one of
//! the registry's own names ([`TrustOptions::hosts`]) and it names an existing
//! repository whose trust data no other GUN holds (checked again inside the command).
//! The server's private keys are stored sealed with the master key.
//!
//! Reads answer from the store, without cryptography and without writing. Timestamps
//! are kept fresh by a job ([`Trust::refresh_timestamps`], at start and then hourly)
//! that re-signs every one that would expire within [`REFRESH_BEFORE_DAYS`].

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_meta::command::{DeleteTrust, PutTrustKey, PutTrustMetadata, SignedTag, TrustFile};
use berth_meta::seal::MasterKey;
use berth_meta::{Applied, Command, Meta, Rejection, TrustKey};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::keys::{ServerKey, public_of};
use crate::tuf::PublicKey;
use crate::tuf::{
    MetaList, Parsed, Role, Root, SNAPSHOT_EXPIRY_DAYS, ServerRole, Signature, TIMESTAMP_EXPIRY_DAYS, Targets, file_meta, sha256_hex,
    valid_role,
};
use crate::validate::{self, Invalid, expired};
use crate::{Error, canonical};
use berth_core::RepositoryName;

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

/// A timestamp that expires within this many days is re-signed by the refresh job.
pub const REFRESH_BEFORE_DAYS: i64 = 7;

/// Where GUNs may point: the registry's own names.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// `host[:port]` values a GUN may start with (compared without case), e.g. the host of
    /// `external_url`, or the loopback names of the listeners.
    pub hosts: Vec<String>,
}

/// The trust service.
#[derive(Clone)]
pub struct Trust {
    meta: Meta,
    master: Arc<MasterKey>,
    hosts: Arc<Vec<String>>,
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

fn version_of(bytes: &[u8]) -> u64 {
    Parsed::parse(bytes.to_vec()).map_or(0, |p| p.common.version)
}

fn file(role: &str, bytes: Vec<u8>) -> TrustFile {
    TrustFile { role: role.to_owned(), version: version_of(&bytes), sha256: sha256_hex(&bytes), bytes }
}

/// What a sealed trust key is bound to.
pub fn key_purpose(gun: &str, role: &str, key_id: &str) -> String {
    format!("berth trust key {gun} {role} {key_id}")
}

/// The version of every role in `state`.
fn versions(state: &BTreeMap<String, (u64, Vec<u8>)>) -> BTreeMap<String, u64> {
    state.iter().map(|(role, (version, _))| (role.clone(), *version)).collect()
}

/// The tags signed by current role files, as a trusted pull resolves them:
/// `targets/releases` first, then `targets`.
fn signed_targets<'a>(files: impl Fn(&str) -> Option<&'a [u8]>) -> Vec<SignedTag> {
    let mut tags: BTreeMap<String, SignedTag> = BTreeMap::new();
    for role in ["targets", "targets/releases"] {
        let Some(targets) = files(role).and_then(|b| Parsed::parse(b.to_vec())).and_then(|p| p.signed::<Targets>()) else { continue };
        for (tag, meta) in targets.targets {
            use base64::Engine as _;
            let Some(digest) = meta.hashes.get("sha256").and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok()) else {
                continue;
            };
            let digest = format!("sha256:{}", hex::encode(digest));
            tags.insert(tag.clone(), SignedTag { tag, digest, role: role.to_owned() });
        }
    }
    tags.into_values().collect()
}

impl Trust {
    /// The service over `meta`, with its keys sealed by `master`. Seals server keys that
    /// an earlier version stored in the clear, and builds the signed-tags index of trust
    /// data stored before there was one.
    pub async fn start(meta: Meta, master: Arc<MasterKey>, options: TrustOptions) -> Result<Trust, Error> {
        let trust = Trust { meta, master, hosts: Arc::new(options.hosts) };
        trust.seal_clear_keys().await?;
        trust.index_unindexed().await?;
        Ok(trust)
    }

    /// The repository `gun` names, when the GUN names this registry.
    pub fn repository_of(&self, gun: &str) -> Result<RepositoryName, Error> {
        let foreign = || Error::ForeignGun { gun: gun.to_owned(), hosts: self.hosts.join(", ") };
        match berth_core::split_host(gun) {
            (Some(host), repository) if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) => {
                repository.parse().map_err(|_| foreign())
            }
            _ => Err(foreign()),
        }
    }

    /// The repository `gun` names, when `gun` may hold its trust data: the GUN names this
    /// registry, the repository exists, and no other GUN holds its trust data. (Checked
    /// again inside the command that writes; this gives the clear answer early.)
    async fn collection(&self, gun: &str) -> Result<RepositoryName, Error> {
        let repository = self.repository_of(gun)?;
        let repo = repository.to_string();
        let (exists, bound) = self.meta.read_latest(move |r| Ok((r.repository_exists(&repo)?, r.trust_guns(&repo)?))).await?;
        if !exists {
            return Err(Error::RepositoryUnknown);
        }
        match bound.into_iter().find(|g| g != gun) {
            Some(other) => Err(Error::CollectionExists(other)),
            None => Ok(repository),
        }
    }

    /// A metadata file; `MetadataNotFound` when absent.
    pub async fn get(&self, gun: &str, role: &Role, selector: Selector) -> Result<Vec<u8>, Error> {
        self.repository_of(gun)?;
        let (g, r) = (gun.to_owned(), role.as_str().to_owned());
        let found = match selector {
            Selector::Current => self.meta.read_latest(move |reader| Ok(reader.trust_current(&g, &r)?.map(|(_, b)| b))).await?,
            Selector::Version(v) => self.meta.read_latest(move |reader| reader.trust_version(&g, &r, v)).await?,
            Selector::Checksum(sum) => self.meta.read_latest(move |reader| reader.trust_by_checksum(&g, &r, &sum)).await?,
        };
        found.ok_or(Error::MetadataNotFound)
    }

    /// Re-signs every current timestamp that has expired or would within
    /// [`REFRESH_BEFORE_DAYS`] (version + 1, over the same snapshot); how many. Run at start
    /// and then periodically, so that reads never write.
    pub async fn refresh_timestamps(&self) -> Result<usize, Error> {
        let now = OffsetDateTime::now_utc();
        let soon = now + Duration::days(REFRESH_BEFORE_DAYS);
        let mut refreshed = 0;
        for (_, gun) in self.meta.read(|r| r.trust_collections()).await? {
            let g = gun.clone();
            let Some((_, current)) = self.meta.read(move |r| r.trust_current(&g, "timestamp")).await? else { continue };
            if Parsed::parse(current).is_some_and(|p| !expired(&p.common.expires, soon)) {
                continue;
            }
            match self.resign_timestamp(&gun, now).await {
                Ok(()) => refreshed += 1,
                Err(e) => tracing::warn!(gun, error = %e, "re-signing a timestamp"),
            }
        }
        Ok(refreshed)
    }

    /// The held key the root names for `role`, opened; `None` when the server holds none.
    fn held_key(&self, gun: &str, root: &Root, role: &str, held: &[(String, TrustKey)]) -> Result<Option<ServerKey>, Error> {
        let Some(listed) = root.roles.get(role) else { return Ok(None) };
        let Some((id, record)) = held.iter().find(|(id, _)| listed.keyids.contains(id)) else { return Ok(None) };
        let pkcs8 = self.master.open(&key_purpose(gun, role, id), &record.private_pkcs8).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(Some(ServerKey::from_pkcs8(&pkcs8)?))
    }

    async fn resign_timestamp(&self, gun: &str, now: OffsetDateTime) -> Result<(), Error> {
        let repository = self.repository_of(gun)?;
        let g = gun.to_owned();
        let (state, held) = self.meta.read_latest(move |r| Ok((r.trust_state(&g)?, r.trust_keys(&g, "timestamp")?))).await?;
        let root: Root =
            state.get("root").and_then(|(_, b)| Parsed::parse(b.clone())).and_then(|p| p.signed()).ok_or(Error::MetadataNotFound)?;
        let (_, snapshot) = state.get("snapshot").ok_or(Error::MetadataNotFound)?;
        let key = self
            .held_key(gun, &root, "timestamp", &held)?
            .ok_or(Error::InvalidUpdate(Invalid::BadRoot("no timestamp keys exist on the server".into())))?;
        let previous = state.get("timestamp").map_or(0, |(v, _)| *v);
        let bytes = timestamp(snapshot, previous + 1, &key, now)?;
        let signed = signed_targets(|role| state.get(role).map(|(_, b)| b.as_slice()));
        let put =
            PutTrustMetadata { gun: gun.to_owned(), repository, files: vec![file("timestamp", bytes)], expected: versions(&state), signed };
        self.applied(self.meta.apply(Command::PutTrustMetadata(put)).await?)
    }

    /// Applies an update: `parts` are (file name, bytes) as uploaded. Validates with
    /// Notary's rules, signs the next snapshot (unless one was uploaded) and timestamp,
    /// and stores everything at once, or nothing.
    pub async fn update(&self, gun: &str, parts: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let repository = self.collection(gun).await?;
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
            self.meta.read_latest(move |r| Ok((r.trust_state(&g)?, r.trust_keys(&g, "snapshot")?, r.trust_keys(&g, "timestamp")?))).await?;
        let now = OffsetDateTime::now_utc();
        let checked = validate::check(gun, &stored, &update, now)?;

        let mut files: Vec<TrustFile> = update.iter().map(|(role, p)| file(role, p.bytes.clone())).collect();
        let snapshot_bytes = match update.get("snapshot") {
            Some(p) => p.bytes.clone(),
            None => {
                let key = self.held_key(gun, &checked.root, "snapshot", &held_snapshot)?.ok_or_else(|| {
                    Error::InvalidUpdate(Invalid::BadHierarchy {
                        missing: "snapshot".into(),
                        msg: "no snapshot was included in update and server does not hold current snapshot key for repository".into(),
                    })
                })?;
                let meta = checked
                    .files
                    .iter()
                    .filter(|(role, _)| *role != "snapshot" && *role != "timestamp")
                    .map(|(role, b)| (role.clone(), file_meta(b)))
                    .collect();
                let version = stored.get("snapshot").map_or(0, |(v, _)| *v) + 1;
                let signed = MetaList { kind: "Snapshot".into(), expires: expiry(now, SNAPSHOT_EXPIRY_DAYS), meta, version };
                let bytes = sign_file(&signed, &key)?;
                files.push(file("snapshot", bytes.clone()));
                bytes
            }
        };
        let key = self
            .held_key(gun, &checked.root, "timestamp", &held_timestamp)?
            .ok_or(Error::InvalidUpdate(Invalid::BadRoot("no timestamp keys exist on the server".into())))?;
        let version = stored.get("timestamp").map_or(0, |(v, _)| *v) + 1;
        files.push(file("timestamp", timestamp(&snapshot_bytes, version, &key, now)?));

        let signed = signed_targets(|role| checked.files.get(role).map(Vec::as_slice));
        let put = PutTrustMetadata { gun: gun.to_owned(), repository, files, expected: versions(&stored), signed };
        self.applied(self.meta.apply(Command::PutTrustMetadata(put)).await?)
    }

    /// Maps a trust command's outcome.
    fn applied(&self, applied: Applied) -> Result<(), Error> {
        match applied {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::TrustVersionStale(role)) => Err(Error::OldVersion(role)),
            Applied::Rejected(Rejection::RepositoryUnknown) => Err(Error::RepositoryUnknown),
            Applied::Rejected(Rejection::TrustCollectionExists(gun)) => Err(Error::CollectionExists(gun)),
            Applied::Rejected(other) => Err(Error::Crypto(format!("unexpected refusal {other:?}"))),
        }
    }

    /// The public server key of `role` (`timestamp` or `snapshot`) as JSON: the one the
    /// current root names if the server holds it, else the newest held key, created on
    /// first request (which binds the GUN to its repository). The Notary protocol makes
    /// this read a write: clients ask for the key before publishing anything.
    pub async fn key(&self, gun: &str, role: ServerRole) -> Result<Vec<u8>, Error> {
        self.collection(gun).await?;
        let role = role.as_str();
        if let Some(found) = self.current_key(gun, role).await? {
            return Ok(found);
        }
        self.new_key(gun, role, true).await?;
        self.current_key(gun, role).await?.ok_or(Error::MetadataNotFound)
    }

    /// Creates and stores a server key; its public half.
    async fn new_key(&self, gun: &str, role: &str, only_if_none: bool) -> Result<PublicKey, Error> {
        let repository = self.collection(gun).await?;
        let (key, pkcs8) = ServerKey::generate()?;
        let sealed = self.master.seal(&key_purpose(gun, role, &key.id), &pkcs8).map_err(|e| Error::Crypto(e.to_string()))?;
        let public = key.public.clone();
        let put = PutTrustKey {
            gun: gun.to_owned(),
            repository,
            role: role.to_owned(),
            key_id: key.id,
            keytype: public.keytype.clone(),
            public: public.keyval.public.clone(),
            sealed_private: sealed,
            at: berth_meta::now_millis(),
            only_if_none,
        };
        self.applied(self.meta.apply(Command::PutTrustKey(put)).await?)?;
        Ok(public)
    }

    async fn current_key(&self, gun: &str, role: &str) -> Result<Option<Vec<u8>>, Error> {
        let (g, r) = (gun.to_owned(), role.to_owned());
        let (root, held) = self.meta.read_latest(move |reader| Ok((reader.trust_current(&g, "root")?, reader.trust_keys(&g, &r)?))).await?;
        let root: Option<Root> = root.and_then(|(_, b)| Parsed::parse(b)).and_then(|p| p.signed());
        let listed = root.as_ref().and_then(|root| root.roles.get(role)).map(|l| l.keyids.clone()).unwrap_or_default();
        let chosen = held.iter().find(|(id, _)| listed.contains(id)).or_else(|| held.iter().max_by_key(|(_, k)| k.created_at));
        Ok(chosen.map(|(_, record)| json!(public_of(record)).to_string().into_bytes()))
    }

    /// Creates a new server key for `role` and returns it; the client then publishes a
    /// root naming it.
    pub async fn rotate_key(&self, gun: &str, role: ServerRole) -> Result<Vec<u8>, Error> {
        let public = self.new_key(gun, role.as_str(), false).await?;
        Ok(json!(public).to_string().into_bytes())
    }

    /// Deletes all trust data of a GUN (idempotent). Any GUN: data stored under a name
    /// the registry no longer answers to can still be removed.
    pub async fn delete(&self, gun: &str) -> Result<(), Error> {
        self.meta.apply(Command::DeleteTrust(DeleteTrust { gun: gun.to_owned() })).await?;
        Ok(())
    }

    /// The tags signed in `repository`'s trust data, as a trusted pull sees them.
    pub async fn signed_tags(&self, repository: &str) -> Result<BTreeMap<String, TrustedTarget>, Error> {
        let repo = repository.to_owned();
        let signed = self.meta.read(move |r| r.signed_tags(&repo)).await?;
        Ok(signed.into_iter().map(|(tag, t)| (tag, TrustedTarget { digest: t.digest, role: t.role })).collect())
    }

    /// Seals server keys stored in the clear by an earlier version.
    async fn seal_clear_keys(&self) -> Result<(), Error> {
        let keys = self.meta.read(|r| r.all_trust_keys()).await?;
        for (gun, role, id, record) in keys {
            if MasterKey::is_sealed(&record.private_pkcs8) {
                continue;
            }
            use base64::Engine as _;
            let pkcs8 =
                base64::engine::general_purpose::STANDARD.decode(&record.private_pkcs8).map_err(|e| Error::Crypto(e.to_string()))?;
            let sealed = self.master.seal(&key_purpose(&gun, &role, &id), &pkcs8).map_err(|e| Error::Crypto(e.to_string()))?;
            let Ok(repository) = berth_core::split_host(&gun).1.parse::<RepositoryName>() else { continue };
            let put = PutTrustKey {
                gun: gun.clone(),
                repository,
                role,
                key_id: id,
                keytype: record.keytype,
                public: record.public,
                sealed_private: sealed,
                at: record.created_at,
                only_if_none: false,
            };
            if let Err(e) = self.applied(self.meta.apply(Command::PutTrustKey(put)).await?) {
                tracing::warn!(gun, error = %e, "a server trust key stored in the clear could not be sealed; delete this GUN's trust data");
            }
        }
        Ok(())
    }

    /// Builds the signed-tags index of repositories whose trust data predates it.
    async fn index_unindexed(&self) -> Result<(), Error> {
        let collections = self.meta.read(|r| r.trust_collections()).await?;
        for (repository, gun) in collections {
            let (repo, g) = (repository.clone(), gun.clone());
            let (indexed, state) = self.meta.read(move |r| Ok((!r.signed_tags(&repo)?.is_empty(), r.trust_state(&g)?))).await?;
            let signed = signed_targets(|role| state.get(role).map(|(_, b)| b.as_slice()));
            let Ok(repository) = repository.parse::<RepositoryName>() else { continue };
            if indexed || signed.is_empty() {
                continue;
            }
            let put = PutTrustMetadata { gun, repository, files: Vec::new(), expected: versions(&state), signed };
            if let Err(e) = self.applied(self.meta.apply(Command::PutTrustMetadata(put)).await?) {
                tracing::warn!(error = %e, "indexing the signed tags of trust data stored by an earlier version");
            }
        }
        Ok(())
    }
}

/// A timestamp over `snapshot`.
fn timestamp(snapshot: &[u8], version: u64, key: &ServerKey, now: OffsetDateTime) -> Result<Vec<u8>, Error> {
    let mut meta = BTreeMap::new();
    meta.insert("snapshot".to_owned(), file_meta(snapshot));
    sign_file(&MetaList { kind: "Timestamp".into(), expires: expiry(now, TIMESTAMP_EXPIRY_DAYS), meta, version }, key)
}
