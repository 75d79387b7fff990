//! Backups and restores. A backup is a tar stream, taken online:
//!
//! ```text
//! MANIFEST.json               format, when, which replica and cluster, the applied index,
//!                             a check value of the master key, and every other file with
//!                             its size and SHA-256
//! metadata.bin                every metadata table, as of one consistent moment
//! blobs/sha256/<hex>          with --include-blobs: every blob a repository links to
//! ```
//!
//! Secrets in the metadata (the token-signing key, trust keys, the cluster CA's key) stay
//! sealed with the master key, which is not in the backup: keep `master.key` apart. A
//! restore needs it, and checks it against the manifest before anything is written.
//!
//! The stream's length is known before it starts (tar's layout is fixed), so the client
//! can show progress. A restore reads the whole stream into a staging directory,
//! checking every file against the manifest, before it changes anything; a truncated or
//! altered backup is refused and leaves nothing behind.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_auth::Subject;
use berth_core::{Digest, Secret};
use berth_meta::Meta;
use berth_meta::seal::MasterKey;
use berth_storage::{BlobStore as _, Storage, StorageConfig};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

/// The format this release writes and reads.
pub const FORMAT: &str = "berth-backup 1";
const MANIFEST: &str = "MANIFEST.json";
const METADATA: &str = "metadata.bin";
/// What the master key check value is sealed for.
const CHECK_PURPOSE: &str = "backup-check";
const CHECK_VALUE: &[u8] = b"berth";
const BLOCK: u64 = 512;

/// A file in the backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path in the tar.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
}

/// `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// When it was taken (seconds since the epoch).
    pub created_at: u64,
    /// The replica it was taken on.
    pub replica: String,
    /// Its cluster.
    pub cluster: String,
    /// The index of the last command it includes.
    pub applied_index: u64,
    /// Whether blobs are included.
    pub include_blobs: bool,
    /// A value sealed with the master key: a restore opens it to check its key.
    pub master_key_check: String,
    /// Every other file.
    pub files: Vec<FileEntry>,
}

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Only system administrators may take backups.
    #[error("only system administrators may take backups")]
    NotAuthorized,
    /// The backup cannot be restored (truncated, altered, not a backup, another format).
    #[error("{0}")]
    Refused(String),
    /// The master key given is not the one the backup's secrets are sealed with.
    #[error(
        "the master key does not open the backup's secrets: give the master.key (or BERTH_MASTER_KEY) of the registry it was taken from"
    )]
    WrongMasterKey,
    /// Reading or writing files failed.
    #[error("{0}")]
    Io(String),
    /// The metadata failed.
    #[error(transparent)]
    Meta(#[from] berth_meta::Error),
    /// The blob storage failed.
    #[error(transparent)]
    Storage(#[from] berth_storage::Error),
    /// The master key failed.
    #[error(transparent)]
    Seal(#[from] berth_meta::seal::SealError),
}

fn io(what: impl std::fmt::Display, e: impl std::fmt::Display) -> BackupError {
    BackupError::Io(format!("{what}: {e}"))
}

/// A backup being streamed.
pub struct BackupStream {
    /// The stream's exact length.
    pub size: u64,
    /// What it holds.
    pub manifest: Manifest,
    /// The bytes, in order; an error ends the stream early (the client's copy is then
    /// short, and a restore refuses it).
    pub chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

/// Takes backups.
#[derive(Clone)]
pub struct Backups {
    meta: Meta,
    storage: Arc<Storage>,
    master: Arc<MasterKey>,
    scratch: PathBuf,
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK) * BLOCK
}

fn header(path: &str, size: u64, mtime: u64) -> Result<Bytes, BackupError> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path).map_err(|e| io(path, e))?;
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(Bytes::copy_from_slice(header.as_bytes()))
}

/// Writes through to `inner` while hashing and counting.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Backups {
    /// Backups over the cluster's metadata and the blob storage at `storage`; metadata
    /// exports are staged in `scratch`.
    pub(crate) fn new(meta: Meta, storage: Arc<Storage>, master: Arc<MasterKey>, scratch: PathBuf) -> Backups {
        Backups { meta, storage, master, scratch }
    }

    /// Starts a backup (system administrators): the metadata as of now, and with
    /// `include_blobs` every blob it links to. The registry keeps serving meanwhile.
    pub async fn start(&self, by: &Subject, include_blobs: bool) -> Result<BackupStream, BackupError> {
        if !berth_auth::policy::administers(by) {
            return Err(BackupError::NotAuthorized);
        }
        std::fs::create_dir_all(&self.scratch).map_err(|e| io(self.scratch.display(), e))?;
        let export = self.scratch.join(format!("metadata-{}.bin", uuid_like()));
        let (meta, path) = (self.meta.clone(), export.clone());
        let (info, size, sha256) = tokio::task::spawn_blocking(move || -> Result<_, BackupError> {
            let file = std::fs::File::create(&path).map_err(|e| io(path.display(), e))?;
            let mut out = Hashing { inner: std::io::BufWriter::new(file), hasher: Sha256::new(), size: 0 };
            let info = meta.export(&mut out)?;
            std::io::Write::flush(&mut out).map_err(|e| io(path.display(), e))?;
            Ok((info, out.size, hex::encode(out.hasher.finalize())))
        })
        .await
        .map_err(|e| io("exporting the metadata", e))??;
        let mut files = vec![FileEntry { path: METADATA.into(), size, sha256 }];
        if include_blobs {
            for (digest, size) in &info.blobs {
                let Some(hex) = digest.strip_prefix("sha256:") else { continue };
                files.push(FileEntry { path: format!("blobs/sha256/{hex}"), size: *size, sha256: hex.to_owned() });
            }
        }
        let created_at = berth_meta::now();
        let manifest = Manifest {
            format: FORMAT.into(),
            created_at,
            replica: info.replica,
            cluster: info.cluster,
            applied_index: info.applied_index,
            include_blobs,
            master_key_check: self.master.seal(CHECK_PURPOSE, CHECK_VALUE)?,
            files,
        };
        let manifest_bytes = Bytes::from(serde_json::to_vec_pretty(&manifest).map_err(|e| io("the manifest", e))?);
        let size =
            BLOCK + padded(manifest_bytes.len() as u64) + manifest.files.iter().map(|f| BLOCK + padded(f.size)).sum::<u64>() + 2 * BLOCK;
        let (sender, chunks) = mpsc::channel(16);
        let (storage, files, returned) = (self.storage.clone(), manifest.files.clone(), manifest.clone());
        tokio::spawn(async move {
            let result = stream(&sender, &storage, &export, manifest_bytes, &files, created_at).await;
            let _ = tokio::fs::remove_file(&export).await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "backup ended early");
                let _ = sender.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        });
        Ok(BackupStream { size, manifest: returned, chunks })
    }
}

/// A short random name for scratch files.
fn uuid_like() -> String {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    hex::encode(bytes)
}

async fn stream(
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    storage: &Storage,
    export: &Path,
    manifest: Bytes,
    files: &[FileEntry],
    mtime: u64,
) -> Result<(), BackupError> {
    use futures_util::StreamExt as _;
    use tokio::io::AsyncReadExt as _;
    let closed = || BackupError::Io("the client went away".into());
    let send = |chunk: Bytes| async move { sender.send(Ok(chunk)).await.map_err(|_| closed()) };
    let pad = |size: u64| Bytes::from(vec![0u8; (padded(size) - size) as usize]);
    send(header(MANIFEST, manifest.len() as u64, mtime)?).await?;
    let length = manifest.len() as u64;
    send(manifest).await?;
    send(pad(length)).await?;
    for file in files {
        send(header(&file.path, file.size, mtime)?).await?;
        let mut sent = 0u64;
        if file.path == METADATA {
            let mut input = tokio::fs::File::open(export).await.map_err(|e| io(export.display(), e))?;
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = input.read(&mut buf).await.map_err(|e| io(export.display(), e))?;
                if n == 0 {
                    break;
                }
                sent += n as u64;
                send(Bytes::copy_from_slice(&buf[..n])).await?;
            }
        } else {
            let digest: Digest = format!("sha256:{}", file.sha256).parse().map_err(|e| io(&file.path, e))?;
            let reader = storage.open(&digest, None).await?.ok_or_else(|| io(&file.path, "the blob is gone from storage"))?;
            let mut body = reader.stream;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| io(&file.path, e))?;
                sent += chunk.len() as u64;
                send(chunk).await?;
            }
        }
        if sent != file.size {
            return Err(io(&file.path, format!("{sent} bytes where {} were expected", file.size)));
        }
        send(pad(file.size)).await?;
    }
    send(Bytes::from(vec![0u8; 2 * BLOCK as usize])).await
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// The new replica's id.
    pub replica: String,
    /// The new cluster's id.
    pub cluster: String,
}

/// Restores a backup read from `input` into `data_dir` (which must hold no registry),
/// its blobs into `storage`, as a new one-member cluster reached at
/// `address`. `master_key`: the key the backup's secrets are sealed with, or `None` to
/// use `<data_dir>/master.key`; with `save_key`, it is written there.
pub fn restore(
    data_dir: &Path,
    storage: &StorageConfig,
    input: impl Read,
    master_key: Option<&Secret>,
    save_key: bool,
    address: &str,
) -> Result<Restored, BackupError> {
    if data_dir.join("meta.redb").exists() {
        return Err(BackupError::Refused(format!("{} already holds a registry: restore into an empty data directory", data_dir.display())));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| io(data_dir.display(), e))?;
    let staging = data_dir.join("restore-staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| io(staging.display(), e))?;
    let result = restore_staged(data_dir, storage, &staging, input, master_key, address);
    if let (Ok(_), Some(key), true) = (&result, master_key, save_key) {
        MasterKey::from_base64(key.expose(), "the master key file")?.save(&data_dir.join("master.key"))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn restore_staged(
    data_dir: &Path,
    storage: &StorageConfig,
    staging: &Path,
    input: impl Read,
    master_key: Option<&Secret>,
    address: &str,
) -> Result<Restored, BackupError> {
    let corrupt = |e: &dyn std::fmt::Display| BackupError::Refused(format!("the backup is truncated or corrupt: {e}"));
    let mut archive = tar::Archive::new(input);
    let mut entries = archive.entries().map_err(|e| corrupt(&e))?;
    let manifest: Manifest = {
        let mut first = entries.next().ok_or_else(|| corrupt(&"it is empty"))?.map_err(|e| corrupt(&e))?;
        if first.path().map_err(|e| corrupt(&e))?.to_string_lossy() != MANIFEST {
            return Err(BackupError::Refused("not a Berth backup: it does not start with MANIFEST.json".into()));
        }
        let mut text = Vec::new();
        first.read_to_end(&mut text).map_err(|e| corrupt(&e))?;
        serde_json::from_slice(&text).map_err(|e| corrupt(&e))?
    };
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!("backup format {:?}; this release reads {FORMAT:?}", manifest.format)));
    }
    let master = match master_key {
        Some(key) => MasterKey::from_base64(key.expose(), "BERTH_MASTER_KEY")?,
        None => MasterKey::from_base64(
            &std::fs::read_to_string(data_dir.join("master.key")).map_err(|_| {
                BackupError::Refused(
                    "a restore needs the master key the backup's secrets are sealed with: set BERTH_MASTER_KEY, or put that master.key in the data directory".into(),
                )
            })?,
            "master.key",
        )?,
    };
    if master.open(CHECK_PURPOSE, &manifest.master_key_check).ok().as_deref() != Some(CHECK_VALUE) {
        return Err(BackupError::WrongMasterKey);
    }
    let expected: BTreeMap<&str, &FileEntry> = manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut seen = BTreeMap::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(&e))?;
        let path = entry.path().map_err(|e| corrupt(&e))?.to_string_lossy().into_owned();
        let Some(file) = expected.get(path.as_str()) else {
            return Err(BackupError::Refused(format!("the backup holds {path}, which its manifest does not list")));
        };
        let target = staging.join(format!("{}.part", seen.len()));
        let mut out =
            Hashing { inner: std::fs::File::create(&target).map_err(|e| io(target.display(), e))?, hasher: Sha256::new(), size: 0 };
        std::io::copy(&mut entry, &mut out).map_err(|e| corrupt(&e))?;
        if out.size < file.size {
            return Err(BackupError::Refused(format!(
                "the backup is truncated: {path} ends after {} of its {} bytes",
                out.size, file.size
            )));
        }
        if out.size != file.size || hex::encode(out.hasher.finalize()) != file.sha256 {
            return Err(BackupError::Refused(format!("{path} does not match its checksum in the manifest: the backup is corrupt")));
        }
        seen.insert(path, target);
    }
    let missing: Vec<&str> = expected.keys().copied().filter(|p| !seen.contains_key(*p)).collect();
    if !missing.is_empty() {
        return Err(BackupError::Refused(format!(
            "the backup is truncated: {} of its {} files are missing (the first: {})",
            missing.len(),
            expected.len(),
            missing[0]
        )));
    }
    // Everything checked: blobs first (content-addressed, harmless if the rest failed),
    // then the metadata, renamed into place in one step, then the master key.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| io("a runtime", e))?;
    runtime.block_on(async {
        let storage = Storage::open(storage, u64::MAX)?;
        for (path, staged) in &seen {
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                let digest: Digest = format!("sha256:{hex}").parse().map_err(|e| io(path, e))?;
                storage.adopt(&digest, staged).await?;
            }
        }
        Ok::<(), BackupError>(())
    })?;
    let metadata = seen.get(METADATA).ok_or_else(|| corrupt(&"no metadata.bin"))?;
    let mut input = std::io::BufReader::new(std::fs::File::open(metadata).map_err(|e| io(metadata.display(), e))?);
    let founded = berth_meta::recovery::restore(&data_dir.join("meta.redb"), &mut input, address)?;
    Ok(Restored { manifest, replica: founded.replica, cluster: founded.cluster })
}
