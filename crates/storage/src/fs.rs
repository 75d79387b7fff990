//! The filesystem backend: blobs as files under one root (see `layout.rs`).
//!
//! An append coalesces the body into 1 MiB buffers and hands each to the blocking pool
//! to be hashed and written while the next one arrives, so that receiving (TLS, HTTP
//! framing) and hashing + writing overlap and memory stays flat (two buffers) whatever
//! the blob size. No thread is held while a client sends nothing: a thousand slow
//! uploads cannot exhaust the blocking pool other requests need. Publishing a blob is
//! `fsync(data)`, `rename`, `fsync(directory)`.
//!
//! An upload's running hash stays in memory between its requests (keyed by session and
//! the offset it covers); when it is not there (after a restart, or a session begun by
//! another process) the data received so far is read and hashed again, once.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_core::{ByteRange, Digest, DigestAlgorithm};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};

use crate::hashing::StreamHasher;
use crate::locks::UploadLocks;
use crate::upload::{UploadId, UploadState};
use crate::{BLOB_SHARDS, BlobInfo, BlobListing, BlobReader, BlobStore, ByteStream, Error, StoredBlob, layout};

/// Size of the buffers handed to the writer thread.
const WRITE_CHUNK: usize = 1 << 20;
/// Size of the reads when serving a blob, and how many are in flight ahead of the socket.
/// 256 KiB: large enough that system calls are a small part of a pull, small enough that
/// the pieces in flight (read ahead plus the one being sent) stay under a MiB per pull.
const READ_CHUNK: usize = 256 << 10;
const READ_AHEAD: usize = 2;
/// First capacity of an append's coalescing buffer.
const SMALL_BUFFER: usize = 64 << 10;
/// Running hashes kept between an upload's requests (a few hundred bytes each).
const MAX_KEPT_HASHES: usize = 4096;

/// Blobs and uploads in a directory.
pub struct FsStore {
    root: PathBuf,
    max_upload_size: u64,
    locks: UploadLocks,
    /// Running SHA-256 hashes of open uploads: id → (bytes covered, hash).
    hashes: Mutex<HashMap<String, (u64, StreamHasher)>>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// `len` bytes of `file` from `first`, as a stream of `READ_CHUNK` pieces.
///
/// Each piece is one `pread` straight into the buffer that goes to the socket (no
/// intermediate copy), on the blocking pool; `READ_AHEAD` of them run while the previous
/// one is being sent, so the disk (or page cache) and the socket overlap. No thread waits
/// on a slow client: a piece is read only when the connection asks for it.
fn read_chunks(file: File, first: u64, len: u64) -> ByteStream {
    // Sequential access doubles the kernel's read-ahead for this file; a hint, so its
    // failure changes nothing.
    let _ = rustix::fs::fadvise(&file, first, std::num::NonZeroU64::new(len), rustix::fs::Advice::Sequential);
    let file = std::sync::Arc::new(file);
    let pieces = len.div_ceil(READ_CHUNK as u64);
    let reads = futures_util::stream::iter(0..pieces).map(move |i| {
        let file = file.clone();
        let offset = first + i * READ_CHUNK as u64;
        let want = (len - i * READ_CHUNK as u64).min(READ_CHUNK as u64) as usize;
        // Allocated here, on one of the runtime's few threads, not on the blocking pool's
        // many: the allocator keeps a cache for each thread that allocates.
        let buf = Vec::with_capacity(want);
        async move { blocking(move || read_exactly_at(&file, offset, buf, want)).await }
    });
    Box::pin(reads.buffered(READ_AHEAD))
}

/// Exactly `want` bytes of `file` at `offset`, read into `buf` (empty, with room for them).
fn read_exactly_at(file: &File, offset: u64, mut buf: Vec<u8>, want: usize) -> io::Result<Bytes> {
    while buf.len() < want {
        // Reads into the spare capacity: the buffer is never zeroed first.
        let at = offset + buf.len() as u64;
        let n = rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at)?;
        if n == 0 {
            // The blob is immutable; a short file means it was damaged or removed under us.
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob file is shorter than its recorded size"));
        }
    }
    Ok(Bytes::from(buf))
}

/// Makes a directory entry (a rename or a new file) durable.
fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents, making each new entry durable.
fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        // A relative path's last parent is "": the working directory.
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        create_dir_durable(parent)?;
        match std::fs::create_dir(dir) {
            Ok(()) => fsync_dir(parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether a write must be on disk before the caller answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Acknowledged progress: fsync before answering.
    Durable,
    /// Nothing a client relies on after a crash (a session no byte was sent to yet: losing
    /// it costs the client a new `POST`).
    BestEffort,
}

/// Replaces `path` with `bytes` atomically (and durably when asked).
fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    if durability == Durability::Durable {
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) if durability == Durability::Durable => fsync_dir(dir),
        _ => Ok(()),
    }
}

impl FsStore {
    /// Opens (creating if needed) a store under `root`; uploads may grow to `max_upload_size` bytes.
    pub fn open(root: impl Into<PathBuf>, max_upload_size: u64) -> Result<FsStore, Error> {
        let root = root.into();
        create_dir_durable(&layout::blobs_dir(&root))?;
        create_dir_durable(&layout::uploads_dir(&root))?;
        Ok(FsStore { root, max_upload_size, locks: UploadLocks::default(), hashes: Mutex::default() })
    }

    async fn read_state(&self, id: &UploadId) -> Result<Option<UploadState>, Error> {
        match tokio::fs::read(layout::upload_state(&self.root, id)).await {
            Ok(bytes) => UploadState::decode(id.clone(), &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_state(&self, state: &UploadState, durability: Durability) -> Result<(), Error> {
        let path = layout::upload_state(&self.root, &state.id);
        let bytes = state.encode();
        Ok(blocking(move || write_atomic(&path, &bytes, durability)).await?)
    }

    /// Feeds the first `len` bytes of `path` to a fresh `algorithm` hash.
    fn hash_prefix(path: &Path, len: u64, algorithm: DigestAlgorithm) -> io::Result<StreamHasher> {
        let mut hasher = StreamHasher::new(algorithm);
        let mut file = File::open(path)?.take(len);
        let mut buf = vec![0u8; WRITE_CHUNK];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(hasher);
            }
            hasher.update(&buf[..n]);
        }
    }

    /// Publishes `file` (already verified to hash to `digest`, on the same filesystem)
    /// as that blob, the way a commit does: fsync, rename, fsync the directory. A blob
    /// already present is kept and `file` removed. For restoring a backup, offline.
    pub fn adopt(&self, digest: &Digest, file: &Path) -> Result<(), Error> {
        let target = layout::blob_path(&self.root, digest);
        (|| -> io::Result<()> {
            if target.exists() {
                return std::fs::remove_file(file);
            }
            std::fs::File::open(file)?.sync_all()?;
            let parent = target.parent().ok_or_else(|| io::Error::other("blob path has no parent"))?;
            create_dir_durable(parent)?;
            std::fs::rename(file, &target)?;
            fsync_dir(parent)
        })()
        .map_err(Error::from)
    }

    /// The running SHA-256 of upload `id`'s first `offset` bytes: the one kept in memory,
    /// or, when it is missing or covers another length, computed from the data. Taken out
    /// of the table: the caller puts it back with [`FsStore::keep_hash`] when it is valid.
    async fn take_hash(&self, id: &UploadId, offset: u64) -> Result<StreamHasher, Error> {
        let kept = self.hashes.lock().unwrap_or_else(|p| p.into_inner()).remove(id.as_str());
        match kept {
            Some((covered, hasher)) if covered == offset => Ok(hasher),
            _ => {
                let path = layout::upload_data(&self.root, id);
                Ok(blocking(move || FsStore::hash_prefix(&path, offset, DigestAlgorithm::Sha256)).await?)
            }
        }
    }

    /// Keeps an upload's running hash for its next request. The table holds at most
    /// [`MAX_KEPT_HASHES`]: past that an arbitrary one goes, to be recomputed from its
    /// data if its upload continues (time, never memory, pays for many open uploads).
    fn keep_hash(&self, id: &UploadId, offset: u64, hasher: StreamHasher) {
        let mut hashes = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
        if hashes.len() >= MAX_KEPT_HASHES
            && !hashes.contains_key(id.as_str())
            && let Some(evicted) = hashes.keys().next().cloned()
        {
            hashes.remove(&evicted);
        }
        hashes.insert(id.as_str().to_owned(), (offset, hasher));
    }

    fn forget_hash(&self, id: &UploadId) {
        self.hashes.lock().unwrap_or_else(|p| p.into_inner()).remove(id.as_str());
    }

    /// The committed blobs of one shard, every algorithm, in digest order.
    async fn list_shard(&self, shard: u16) -> Result<Vec<StoredBlob>, Error> {
        let blobs = layout::blobs_dir(&self.root);
        blocking(move || {
            let mut found = Vec::new();
            for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
                let dir = blobs.join(algorithm.as_str()).join(format!("{shard:02x}"));
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let entry = entry?;
                    let name = entry.file_name();
                    let Ok(digest) = format!("{}:{}", algorithm.as_str(), name.to_string_lossy()).parse::<Digest>() else { continue };
                    let metadata = match entry.metadata() {
                        Ok(m) if m.is_file() => m,
                        Ok(_) => continue,
                        // Deleted since the directory was read.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    };
                    let modified = metadata.modified()?.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                    found.push(StoredBlob { digest, size: metadata.len(), modified });
                }
            }
            found.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
            Ok(found)
        })
        .await
        .map_err(Error::from)
    }
}

/// Writes an append's buffers on the blocking pool, one at a time, in order: the next
/// buffer fills from the network while the previous one is hashed and written.
struct ChunkWriter {
    /// The file, the running hash and the bytes written, when no write is under way.
    idle: Option<(File, StreamHasher, u64)>,
    /// The write under way, which gives them back.
    busy: Option<tokio::task::JoinHandle<io::Result<(File, StreamHasher, u64)>>>,
}

impl ChunkWriter {
    /// Opens the upload's data at `offset`; anything past it is left over from a crash
    /// mid-append, and goes.
    async fn open(path: PathBuf, offset: u64, hasher: StreamHasher) -> io::Result<ChunkWriter> {
        let file = blocking(move || {
            let mut file = OpenOptions::new().write(true).create(true).truncate(false).open(&path)?;
            file.set_len(offset)?;
            file.seek(SeekFrom::Start(offset))?;
            Ok(file)
        })
        .await?;
        Ok(ChunkWriter { idle: Some((file, hasher, 0)), busy: None })
    }

    /// Waits for the write under way, if any.
    async fn settle(&mut self) -> io::Result<(File, StreamHasher, u64)> {
        match self.busy.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => self.idle.take().ok_or_else(|| io::Error::other("an upload writer was used after a failed write")),
        }
    }

    /// Queues `chunk` behind the write under way.
    async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        let (mut file, mut hasher, written) = self.settle().await?;
        self.busy = Some(tokio::task::spawn_blocking(move || {
            file.write_all(&chunk)?;
            hasher.update(&chunk);
            Ok((file, hasher, written + chunk.len() as u64))
        }));
        Ok(())
    }

    /// Waits for the last write and makes the data durable: the running hash and the
    /// bytes written.
    async fn finish(mut self) -> io::Result<(StreamHasher, u64)> {
        let (file, hasher, written) = self.settle().await?;
        blocking(move || file.sync_data()).await?;
        Ok((hasher, written))
    }
}

impl BlobStore for FsStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobInfo>, Error> {
        match tokio::fs::metadata(layout::blob_path(&self.root, digest)).await {
            Ok(meta) => Ok(Some(BlobInfo { size: meta.len() })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<Option<BlobReader>, Error> {
        let path = layout::blob_path(&self.root, digest);
        let opened = blocking(move || {
            let file = File::open(path)?;
            let size = file.metadata()?.len();
            Ok((file, size))
        })
        .await;
        let (file, size) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (first, len) = match range {
            Some(r) if r.first >= size => {
                return Err(Error::RangeNotSatisfiable { first: r.first, last: r.last, size });
            }
            Some(r) => (r.first, r.last.min(size - 1) - r.first + 1),
            None => (0, size),
        };
        let stream = read_chunks(file, first, len);
        let range = range.map(|_| ByteRange { first, last: first + len - 1 });
        Ok(Some(BlobReader { size, range, stream: Box::pin(stream) }))
    }

    async fn delete(&self, digest: &Digest) -> Result<(), Error> {
        match tokio::fs::remove_file(layout::blob_path(&self.root, digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), Error> {
        let paths: Vec<PathBuf> = digests.iter().map(|d| layout::blob_path(&self.root, d)).collect();
        blocking(move || {
            for path in paths {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await
        .map_err(Error::from)
    }

    fn list_blobs(&self) -> BlobListing<'_> {
        let shards = futures_util::stream::iter(0..BLOB_SHARDS).then(move |shard| self.list_shard(shard));
        Box::pin(shards.map_ok(|blobs| futures_util::stream::iter(blobs.into_iter().map(Ok))).try_flatten())
    }

    async fn create_upload(&self, repository: &str, now: u64) -> Result<UploadState, Error> {
        let state = UploadState::new(repository, now);
        let dir = layout::upload_dir(&self.root, &state.id);
        let data = layout::upload_data(&self.root, &state.id);
        blocking(move || {
            std::fs::create_dir(&dir)?;
            File::create(&data)?;
            Ok(())
        })
        .await?;
        self.write_state(&state, Durability::BestEffort).await?;
        Ok(state)
    }

    async fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, Error> {
        self.read_state(id).await
    }

    async fn append(&self, id: &UploadId, offset: u64, mut body: ByteStream, now: u64) -> Result<UploadState, Error> {
        let _lock = self.locks.lock(id).await;
        let mut state = self.read_state(id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))?;
        if state.offset != offset {
            return Err(Error::OffsetMismatch { current: state.offset, requested: offset });
        }
        let hasher = self.take_hash(id, offset).await?;
        let mut writer = ChunkWriter::open(layout::upload_data(&self.root, id), offset, hasher).await?;

        let mut buffer = BytesMut::new();
        let mut received = 0u64;
        let mut stop: Option<Error> = None;
        let mut failed: Option<io::Error> = None;
        while let Some(frame) = body.next().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    stop = Some(Error::BodyInterrupted(e.to_string()));
                    break;
                }
            };
            received += frame.len() as u64;
            if offset + received > self.max_upload_size {
                stop = Some(Error::TooLarge { limit: self.max_upload_size });
                break;
            }
            let ready = if buffer.is_empty() && frame.len() >= WRITE_CHUNK {
                frame
            } else {
                if buffer.capacity() == 0 {
                    // The first buffer grows as bytes arrive, not reserved whole: most blobs
                    // are small, and many uploads run at once. Once a body has filled one,
                    // the next ones are reserved whole.
                    buffer.reserve(if received > WRITE_CHUNK as u64 { WRITE_CHUNK } else { frame.len().clamp(SMALL_BUFFER, WRITE_CHUNK) });
                }
                buffer.extend_from_slice(&frame);
                if buffer.len() < WRITE_CHUNK {
                    continue;
                }
                buffer.split().freeze()
            };
            if let Err(e) = writer.write(ready).await {
                failed = Some(e);
                break;
            }
        }
        let too_large = matches!(stop, Some(Error::TooLarge { .. }));
        if failed.is_none() && !buffer.is_empty() && !too_large {
            failed = writer.write(buffer.freeze()).await.err();
        }
        if let Some(error) = failed {
            return Err(error.into());
        }
        let (hasher, written) = writer.finish().await?;
        if too_large {
            // The recorded offset stays where it was; the next append truncates the excess.
            return Err(stop.unwrap_or(Error::TooLarge { limit: self.max_upload_size }));
        }
        state.offset += written;
        state.updated_at = now;
        self.write_state(&state, Durability::Durable).await?;
        if offset == 0 && written > 0 {
            // The first acknowledged bytes: make the session's directory entry durable too
            // (it was created best-effort).
            let uploads = layout::uploads_dir(&self.root);
            blocking(move || fsync_dir(&uploads)).await?;
        }
        self.keep_hash(id, state.offset, hasher);
        match stop {
            Some(error) => Err(error),
            None => Ok(state),
        }
    }

    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo, Error> {
        let _lock = self.locks.lock(id).await;
        let state = self.read_state(id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))?;
        let data = layout::upload_data(&self.root, id);
        let actual = if expected.algorithm() == DigestAlgorithm::Sha256 {
            let hasher = self.take_hash(id, state.offset).await?;
            let actual = hasher.finish();
            // Kept for a retry with the right digest.
            self.keep_hash(id, state.offset, hasher);
            actual
        } else {
            let (path, len, algorithm) = (data.clone(), state.offset, expected.algorithm());
            blocking(move || FsStore::hash_prefix(&path, len, algorithm)).await?.finish()
        };
        if &actual != expected {
            return Err(Error::DigestMismatch { expected: expected.clone(), actual });
        }
        self.forget_hash(id);
        let target = layout::blob_path(&self.root, expected);
        let dir = layout::upload_dir(&self.root, id);
        let size = state.offset;
        blocking(move || {
            if !target.exists() {
                let file = OpenOptions::new().write(true).open(&data)?;
                if file.metadata()?.len() != size {
                    file.set_len(size)?;
                    file.sync_data()?;
                }
                let parent = target.parent().ok_or_else(|| io::Error::other("blob path has no parent"))?;
                create_dir_durable(parent)?;
                std::fs::rename(&data, &target)?;
                fsync_dir(parent)?;
            }
            std::fs::remove_dir_all(&dir)
        })
        .await?;
        Ok(BlobInfo { size })
    }

    async fn cancel(&self, id: &UploadId) -> Result<(), Error> {
        let _lock = self.locks.lock(id).await;
        self.forget_hash(id);
        match tokio::fs::remove_dir_all(layout::upload_dir(&self.root, id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn purge_uploads(&self, idle: Duration, now: u64) -> Result<usize, Error> {
        let mut purged = 0;
        let mut entries = tokio::fs::read_dir(layout::uploads_dir(&self.root)).await?;
        while let Some(entry) = entries.next_entry().await? {
            let Some(id) = entry.file_name().to_str().and_then(|s| s.parse::<UploadId>().ok()) else { continue };
            let last_touched = match self.read_state(&id).await {
                Ok(Some(state)) => state.updated_at,
                Ok(None) | Err(Error::Corrupt(_)) => {
                    // Half-created or unreadable: judge by the directory's age.
                    let modified = entry.metadata().await?.modified()?;
                    modified.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
                }
                Err(e) => return Err(e),
            };
            if now.saturating_sub(last_touched) >= idle.as_secs() {
                self.cancel(&id).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    async fn count_uploads(&self) -> Result<usize, Error> {
        let mut count = 0;
        let mut entries = tokio::fs::read_dir(layout::uploads_dir(&self.root)).await?;
        while entries.next_entry().await?.is_some() {
            count += 1;
        }
        Ok(count)
    }
}
