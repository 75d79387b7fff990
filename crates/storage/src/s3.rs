//! The S3 backend: blobs as objects in a bucket (AWS S3, Ceph RGW, MinIO, Garage, …),
//! through `object_store`.
//!
//! ```text
//! <prefix>blobs/<algorithm>/<first two hex>/<hex>   a committed blob; written once, never overwritten
//! <prefix>uploads/<id>/state.json                   the session's record (see `S3Upload`)
//! <prefix>uploads/<id>/tail-<generation>            bytes past the last full part
//! <prefix>uploads/<id>/data                         the multipart upload, assembled at commit
//! ```
//!
//! An upload is a multipart upload of fixed-size parts (equal sizes, as some stores
//! require). An append fills a part buffer from the body, hashing as bytes arrive, and
//! sends each full part while the next one fills; at most two buffers per append, and
//! [`S3Options::part_buffers`] in the whole process, so memory is bounded however many
//! clients push. What is left at the end of a request (less than a part) goes to the
//! session's tail object, so another replica can continue the upload, and to a spill
//! file in the local data directory, so this one need not download it again. The record
//! carries the running SHA-256 state (see `hashing.rs`): a session continues on any
//! replica, after any restart, without reading back what it already has.
//!
//! A commit sends the tail as the last part, completes the multipart upload and copies
//! it to the blob's key on the server; a blob smaller than a part is copied from its
//! tail object. Every write of the record happens after the bytes it describes are
//! stored, and the tail's name changes with each write, so a crash at any point leaves
//! a record that describes stored bytes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_core::{ByteRange, Digest, DigestAlgorithm, Secret};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::hashing::{ResumableSha256, StreamHasher};
use crate::locks::UploadLocks;
use crate::upload::{UploadId, UploadState};
use crate::{BlobInfo, BlobListing, BlobReader, BlobStore, ByteStream, Error, StoredBlob};

/// The most parts a multipart upload may have (S3's limit).
const MAX_PARTS: u64 = 10_000;
/// The largest object S3 copies in one request; larger blobs are copied by streaming.
const MAX_SERVER_COPY: u64 = 5 << 30;

/// How to reach the bucket. Fields left `None` come from the standard AWS environment
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION`, `AWS_ENDPOINT`, …) or the instance's role.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// The bucket (created beforehand).
    pub bucket: String,
    /// Key prefix inside the bucket (`""` or ending in `/`).
    pub prefix: String,
    /// The region.
    pub region: Option<String>,
    /// The endpoint of an S3-compatible server (`http://` allowed).
    pub endpoint: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) rather than virtual-hosted ones.
    pub path_style: bool,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<Secret>,
    /// Size of every part but the last, bytes (at least 5 MiB).
    pub part_size: usize,
    /// Part buffers held at once in the whole process.
    pub part_buffers: usize,
}

impl S3Options {
    /// The smallest part S3 accepts (but for the last).
    pub const MIN_PART_SIZE: usize = 5 << 20;
    /// The default part size.
    pub const DEFAULT_PART_SIZE: usize = 8 << 20;
    /// The default number of part buffers.
    pub const DEFAULT_PART_BUFFERS: usize = 16;
}

/// The session record, stored as `state.json`. Versioned like `upload.rs`'s.
#[derive(Serialize, Deserialize)]
#[serde(tag = "version")]
enum StoredS3Upload {
    #[serde(rename = "s3-1")]
    V1(S3Upload),
}

#[derive(Serialize, Deserialize, Clone)]
struct S3Upload {
    repository: String,
    offset: u64,
    started_at: u64,
    updated_at: u64,
    /// The running SHA-256 over `offset` bytes, serialized.
    sha256: String,
    /// The multipart upload at `data`, once a first part was sent.
    multipart: Option<String>,
    /// The parts sent, in order (their ETags).
    parts: Vec<String>,
    /// Bytes in the tail object.
    tail: u64,
    /// The tail object's generation (its name).
    generation: u64,
}

impl S3Upload {
    fn state(&self, id: &UploadId) -> UploadState {
        UploadState {
            id: id.clone(),
            repository: self.repository.clone(),
            offset: self.offset,
            started_at: self.started_at,
            updated_at: self.updated_at,
        }
    }
}

/// Blobs and uploads in an S3 bucket.
pub struct S3Store {
    s3: Arc<AmazonS3>,
    prefix: String,
    spill: PathBuf,
    max_upload_size: u64,
    part_size: usize,
    buffers: Arc<Semaphore>,
    locks: UploadLocks,
}

fn s3_error(e: object_store::Error) -> Error {
    Error::Io(std::io::Error::other(format!("object storage: {e}")))
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

/// The blob an object of the listing of `blobs/` is (`blobs/<algorithm>/<xx>/<hex>`),
/// `None` for anything else.
fn stored_blob(root: &Path, meta: &object_store::ObjectMeta) -> Option<StoredBlob> {
    // By path parts, as keys were written: `Path` encodes some characters of a prefix.
    let mut parts = meta.location.prefix_match(root)?;
    let (algorithm, shard, hex) = (parts.next()?, parts.next()?, parts.next()?);
    let (algorithm, shard, hex) = (algorithm.as_ref(), shard.as_ref(), hex.as_ref());
    if parts.next().is_some() || !hex.starts_with(shard) || shard.len() != 2 {
        return None;
    }
    let digest = format!("{algorithm}:{hex}").parse::<Digest>().ok()?;
    let modified = u64::try_from(meta.last_modified.timestamp()).unwrap_or(0);
    Some(StoredBlob { digest, size: meta.size, modified })
}

impl S3Store {
    /// A store on `options`' bucket, spilling upload tails under `spill` (a local
    /// directory, emptied here: what it holds is a cache of the tail objects). Uploads may
    /// grow to `max_upload_size` bytes, and to no more than 10,000 parts.
    pub fn open(options: &S3Options, spill: impl Into<PathBuf>, max_upload_size: u64) -> Result<S3Store, Error> {
        if options.part_size < S3Options::MIN_PART_SIZE {
            return Err(Error::Corrupt(format!("storage part size {} is below S3's minimum of 5 MiB", options.part_size)));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&options.bucket);
        if let Some(region) = &options.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        builder = builder.with_virtual_hosted_style_request(!options.path_style);
        if let Some(key) = &options.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &options.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        let s3 = builder.build().map_err(s3_error)?;
        let spill = spill.into();
        if spill.exists() {
            std::fs::remove_dir_all(&spill)?;
        }
        std::fs::create_dir_all(&spill)?;
        Ok(S3Store {
            s3: Arc::new(s3),
            prefix: options.prefix.clone(),
            spill,
            max_upload_size: max_upload_size.min(MAX_PARTS * options.part_size as u64),
            part_size: options.part_size,
            buffers: Arc::new(Semaphore::new(options.part_buffers.max(2))),
            locks: UploadLocks::default(),
        })
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from(format!("{}blobs/{}/{}/{hex}", self.prefix, digest.algorithm().as_str(), &hex[..2]))
    }

    fn uploads_prefix(&self) -> Path {
        Path::from(format!("{}uploads", self.prefix))
    }

    fn upload_key(&self, id: &UploadId, name: &str) -> Path {
        Path::from(format!("{}uploads/{id}/{name}", self.prefix))
    }

    fn tail_key(&self, id: &UploadId, generation: u64) -> Path {
        self.upload_key(id, &format!("tail-{generation}"))
    }

    fn spill_file(&self, id: &UploadId, generation: u64) -> PathBuf {
        self.spill.join(format!("{id}-{generation}"))
    }

    async fn read_record(&self, id: &UploadId) -> Result<Option<S3Upload>, Error> {
        match self.s3.get(&self.upload_key(id, "state.json")).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(s3_error)?;
                let StoredS3Upload::V1(record) =
                    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("upload {id} state: {e}")))?;
                Ok(Some(record))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn write_record(&self, id: &UploadId, record: &S3Upload) -> Result<(), Error> {
        // Serializing strings, integers and a list cannot fail.
        let bytes = serde_json::to_vec(&StoredS3Upload::V1(record.clone())).unwrap_or_default();
        self.s3.put(&self.upload_key(id, "state.json"), PutPayload::from(bytes)).await.map_err(s3_error)?;
        Ok(())
    }

    /// The session's tail bytes: from the spill file when this process wrote it, else
    /// from the tail object.
    async fn read_tail(&self, id: &UploadId, record: &S3Upload) -> Result<Bytes, Error> {
        if record.tail == 0 {
            return Ok(Bytes::new());
        }
        if let Ok(bytes) = tokio::fs::read(self.spill_file(id, record.generation)).await
            && bytes.len() as u64 == record.tail
        {
            return Ok(Bytes::from(bytes));
        }
        let got = self.s3.get(&self.tail_key(id, record.generation)).await.map_err(s3_error)?;
        let bytes = got.bytes().await.map_err(s3_error)?;
        if bytes.len() as u64 != record.tail {
            return Err(Error::Corrupt(format!("upload {id}: its tail has {} bytes, not {}", bytes.len(), record.tail)));
        }
        Ok(bytes)
    }

    /// Removes a session's objects and spill file. Idempotent.
    async fn remove_session(&self, id: &UploadId, record: Option<&S3Upload>) -> Result<(), Error> {
        if let Some(record) = record {
            if let Some(multipart) = &record.multipart {
                match self.s3.abort_multipart(&self.upload_key(id, "data"), &multipart.clone()).await {
                    Ok(()) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => tracing::warn!(upload = %id, error = %e, "aborting a multipart upload failed"),
                }
            }
            let _ = tokio::fs::remove_file(self.spill_file(id, record.generation)).await;
        }
        // Everything under the session's prefix: record, tails (a crash may have left an
        // older one), the assembled data.
        let prefix = Path::from(format!("{}uploads/{id}", self.prefix));
        let keys: Vec<Path> = self.s3.list(Some(&prefix)).map_ok(|meta| meta.location).try_collect().await.map_err(s3_error)?;
        self.delete_keys(keys).await
    }

    async fn delete_keys(&self, keys: Vec<Path>) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let locations = futures_util::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut results = self.s3.delete_stream(locations);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(s3_error(e)),
            }
        }
        Ok(())
    }

    /// Copies `from` to the blob key `to` on the server, or through this process when the
    /// object is larger than one copy request takes.
    async fn copy_to_blob(&self, from: &Path, to: &Path, size: u64) -> Result<(), Error> {
        if size <= MAX_SERVER_COPY {
            return self.s3.copy(from, to).await.map_err(s3_error);
        }
        let got = self.s3.get(from).await.map_err(s3_error)?;
        let mut stream = got.into_stream();
        let mut upload =
            object_store::WriteMultipart::new_with_chunk_size(self.s3.put_multipart(to).await.map_err(s3_error)?, self.part_size);
        while let Some(bytes) = stream.try_next().await.map_err(s3_error)? {
            upload.wait_for_capacity(2).await.map_err(s3_error)?;
            upload.write(&bytes);
        }
        upload.finish().await.map_err(s3_error)?;
        Ok(())
    }

    /// Hashes a stored object with `algorithm`, streaming it.
    async fn hash_object(&self, key: &Path, algorithm: DigestAlgorithm) -> Result<Digest, Error> {
        let mut hasher = StreamHasher::new(algorithm);
        let mut stream = self.s3.get(key).await.map_err(s3_error)?.into_stream();
        while let Some(bytes) = stream.try_next().await.map_err(s3_error)? {
            hasher.update(&bytes);
        }
        Ok(hasher.finish())
    }

    /// A part buffer's permit; waits while the process holds its share of buffers.
    async fn buffer(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.buffers.clone().acquire_owned().await.map_err(|e| Error::Io(std::io::Error::other(e)))
    }
}

/// The part being sent while the next one fills.
type PartTask = tokio::task::JoinHandle<Result<PartId, Error>>;

impl BlobStore for S3Store {
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobInfo>, Error> {
        match self.s3.head(&self.blob_key(digest)).await {
            Ok(meta) => Ok(Some(BlobInfo { size: meta.size })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<Option<BlobReader>, Error> {
        let key = self.blob_key(digest);
        let Some(range) = range else {
            // A whole blob: one request, which also tells the size.
            return match self.s3.get(&key).await {
                Ok(got) => {
                    let size = got.meta.size;
                    let stream = got.into_stream().map_err(|e| std::io::Error::other(format!("object storage: {e}")));
                    Ok(Some(BlobReader { size, range: None, stream: Box::pin(stream) }))
                }
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(s3_error(e)),
            };
        };
        // A range: the size first, so that a range past the end is told apart.
        let size = match self.s3.head(&key).await {
            Ok(meta) => meta.size,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(s3_error(e)),
        };
        if range.first >= size {
            return Err(Error::RangeNotSatisfiable { first: range.first, last: range.last, size });
        }
        let (first, last) = (range.first, range.last.min(size - 1));
        let options = GetOptions { range: Some(GetRange::Bounded(first..last + 1)), ..GetOptions::default() };
        let stream = match self.s3.get_opts(&key, options).await {
            Ok(got) => got.into_stream().map_err(|e| std::io::Error::other(format!("object storage: {e}"))),
            // Deleted between the two requests.
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(s3_error(e)),
        };
        Ok(Some(BlobReader { size, range: Some(ByteRange { first, last }), stream: Box::pin(stream) }))
    }

    async fn delete(&self, digest: &Digest) -> Result<(), Error> {
        self.delete_keys(vec![self.blob_key(digest)]).await
    }

    async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), Error> {
        self.delete_keys(digests.iter().map(|d| self.blob_key(d)).collect()).await
    }

    fn list_blobs(&self) -> BlobListing<'_> {
        // One listing of `blobs/`, paged by the server, in key order: a bucket's index
        // answers it far faster than one listing per shard.
        let root = Path::from(format!("{}blobs", self.prefix));
        let listing = self.s3.list(Some(&root)).map_err(s3_error);
        Box::pin(listing.try_filter_map(move |meta| std::future::ready(Ok(stored_blob(&root, &meta)))))
    }

    async fn create_upload(&self, repository: &str, now: u64) -> Result<UploadState, Error> {
        let state = UploadState::new(repository, now);
        let record = S3Upload {
            repository: repository.to_owned(),
            offset: 0,
            started_at: now,
            updated_at: now,
            sha256: ResumableSha256::default().save(),
            multipart: None,
            parts: Vec::new(),
            tail: 0,
            generation: 0,
        };
        self.write_record(&state.id, &record).await?;
        Ok(state)
    }

    async fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, Error> {
        Ok(self.read_record(id).await?.map(|record| record.state(id)))
    }

    async fn append(&self, id: &UploadId, offset: u64, mut body: ByteStream, now: u64) -> Result<UploadState, Error> {
        let _lock = self.locks.lock(id).await;
        let mut record = self.read_record(id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))?;
        if record.offset != offset {
            return Err(Error::OffsetMismatch { current: record.offset, requested: offset });
        }
        let mut hasher = ResumableSha256::restore(&record.sha256)
            .ok_or_else(|| Error::Corrupt(format!("upload {id}: its hash state cannot be read")))?;
        let data_key = self.upload_key(id, "data");
        let mut filling = self.buffer().await?;
        let mut buffer = BytesMut::new();
        buffer.extend_from_slice(&self.read_tail(id, &record).await?);
        let mut sending: Option<(PartTask, OwnedSemaphorePermit)> = None;
        let mut received = 0u64;
        let mut stop: Option<Error> = None;
        while let Some(frame) = body.next().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    stop = Some(Error::BodyInterrupted(e.to_string()));
                    break;
                }
            };
            if offset + received + frame.len() as u64 > self.max_upload_size {
                // Nothing of this append is recorded: the parts it sent are sent again
                // under the same numbers by the next one.
                if let Some((task, _)) = sending.take() {
                    task.abort();
                }
                return Err(Error::TooLarge { limit: self.max_upload_size });
            }
            received += frame.len() as u64;
            hasher.update(&frame);
            buffer.extend_from_slice(&frame);
            while buffer.len() >= self.part_size {
                let part = buffer.split_to(self.part_size).freeze();
                if let Some((task, _permit)) = sending.take() {
                    record.parts.push(task.await.map_err(|e| Error::Io(std::io::Error::other(e)))??.content_id);
                }
                let multipart = match &record.multipart {
                    Some(multipart) => multipart.clone(),
                    None => {
                        let multipart = self.s3.create_multipart(&data_key).await.map_err(s3_error)?;
                        // Recorded at once, so that a cancel or a purge can abort it.
                        record.multipart = Some(multipart.clone());
                        self.write_record(id, &record).await?;
                        multipart
                    }
                };
                let (s3, key, index) = (self.s3.clone(), data_key.clone(), record.parts.len());
                let task = tokio::spawn(async move { s3.put_part(&key, &multipart, index, part.into()).await.map_err(s3_error) });
                // The part in flight keeps its buffer's permit; the next one gets another.
                let next = self.buffer().await?;
                sending = Some((task, std::mem::replace(&mut filling, next)));
            }
        }
        if let Some((task, _permit)) = sending.take() {
            record.parts.push(task.await.map_err(|e| Error::Io(std::io::Error::other(e)))??.content_id);
        }
        if received == 0 {
            return match stop {
                Some(error) => Err(error),
                None => Ok(record.state(id)),
            };
        }
        // The rest becomes the new tail: stored first, then the record that names it.
        let old_generation = record.generation;
        let tail = buffer.freeze();
        record.generation += 1;
        record.tail = tail.len() as u64;
        if !tail.is_empty() {
            self.s3.put(&self.tail_key(id, record.generation), PutPayload::from(tail.clone())).await.map_err(s3_error)?;
        }
        record.offset += received;
        record.updated_at = now;
        record.sha256 = hasher.save();
        self.write_record(id, &record).await?;
        drop(filling);
        let spill = self.spill_file(id, record.generation);
        if !tail.is_empty() && tokio::fs::write(&spill, &tail).await.is_err() {
            // Only a cache: the next append reads the tail object instead.
            let _ = tokio::fs::remove_file(&spill).await;
        }
        let _ = tokio::fs::remove_file(self.spill_file(id, old_generation)).await;
        if old_generation > 0 {
            let _ = self.delete_keys(vec![self.tail_key(id, old_generation)]).await;
        }
        match stop {
            Some(error) => Err(error),
            None => Ok(record.state(id)),
        }
    }

    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo, Error> {
        let _lock = self.locks.lock(id).await;
        let record = self.read_record(id).await?.ok_or_else(|| Error::UploadUnknown(id.to_string()))?;
        let size = record.offset;
        let target = self.blob_key(expected);
        // Verified before anything is assembled, while the session can still take more
        // bytes: SHA-256 from the running state, SHA-512 from the bytes (a blob smaller
        // than a part is its tail; a larger one is read back once assembled, below).
        let verify =
            |actual: Digest| if &actual == expected { Ok(()) } else { Err(Error::DigestMismatch { expected: expected.clone(), actual }) };
        match expected.algorithm() {
            DigestAlgorithm::Sha256 => {
                let hasher = ResumableSha256::restore(&record.sha256)
                    .ok_or_else(|| Error::Corrupt(format!("upload {id}: its hash state cannot be read")))?;
                verify(hasher.finish())?;
            }
            algorithm if record.parts.is_empty() => {
                let mut hasher = StreamHasher::new(algorithm);
                hasher.update(&self.read_tail(id, &record).await?);
                verify(hasher.finish())?;
            }
            _ => {}
        }
        let present = self.stat(expected).await?.is_some();
        if !present {
            if record.parts.is_empty() {
                let source = self.tail_key(id, record.generation);
                if record.tail == 0 {
                    self.s3.put(&target, PutPayload::default()).await.map_err(s3_error)?;
                } else {
                    self.copy_to_blob(&source, &target, size).await?;
                }
            } else {
                let data_key = self.upload_key(id, "data");
                let multipart = record.multipart.clone().ok_or_else(|| Error::Corrupt(format!("upload {id}: parts without an upload")))?;
                let mut parts: Vec<PartId> = record.parts.iter().map(|p| PartId { content_id: p.clone() }).collect();
                if record.tail > 0 {
                    let tail = self.read_tail(id, &record).await?;
                    let _permit = self.buffer().await?;
                    parts.push(self.s3.put_part(&data_key, &multipart, parts.len(), tail.into()).await.map_err(s3_error)?);
                }
                self.s3.complete_multipart(&data_key, &multipart, parts).await.map_err(s3_error)?;
                if expected.algorithm() != DigestAlgorithm::Sha256 {
                    let actual = self.hash_object(&data_key, expected.algorithm()).await?;
                    if &actual != expected {
                        // The parts are one object now and cannot take more: the session ends.
                        self.remove_session(id, None).await?;
                        return Err(Error::DigestMismatch { expected: expected.clone(), actual });
                    }
                }
                self.copy_to_blob(&data_key, &target, size).await?;
            }
        }
        let mut done = record;
        if !present && !done.parts.is_empty() {
            // Completed: nothing to abort.
            done.multipart = None;
        }
        self.remove_session(id, Some(&done)).await?;
        Ok(BlobInfo { size })
    }

    async fn cancel(&self, id: &UploadId) -> Result<(), Error> {
        let _lock = self.locks.lock(id).await;
        let record = match self.read_record(id).await {
            Ok(record) => record,
            // An unreadable record still names a session whose objects go.
            Err(Error::Corrupt(_)) => None,
            Err(e) => return Err(e),
        };
        self.remove_session(id, record.as_ref()).await
    }

    async fn purge_uploads(&self, idle: Duration, now: u64) -> Result<usize, Error> {
        // The newest write under each session's prefix tells when it was last touched.
        let mut sessions: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        let mut listing = self.s3.list(Some(&self.uploads_prefix()));
        while let Some(meta) = listing.try_next().await.map_err(s3_error)? {
            let parts: Vec<_> = meta.location.parts().collect();
            let Some(id) = parts.len().checked_sub(2).map(|i| parts[i].as_ref().to_owned()) else { continue };
            let modified = u64::try_from(meta.last_modified.timestamp()).unwrap_or(0);
            let entry = sessions.entry(id).or_insert(0);
            *entry = (*entry).max(modified);
        }
        let mut purged = 0;
        for (name, written) in sessions {
            let Ok(id) = name.parse::<UploadId>() else { continue };
            let last_touched = match self.read_record(&id).await {
                Ok(Some(record)) => record.updated_at,
                Ok(None) | Err(Error::Corrupt(_)) => written,
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
        let listing = self.s3.list_with_delimiter(Some(&self.uploads_prefix())).await.map_err(s3_error)?;
        Ok(listing.common_prefixes.len())
    }
}
