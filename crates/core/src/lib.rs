//! Berth's vocabulary: the pure types every other crate speaks.
//!
//! Nothing here does I/O, and every parser is total: any input gives a value or a
//! typed error, never a panic (property-tested, and fuzzable).
//!
//! # Layout
//! - [`access`]: access levels and the actions they allow.
//! - [`host`]: the `host[:port]` grammar, for values taken from request headers.
//! - [`digest`]: content digests (`sha256:<hex>`) and the streaming, resumable hasher.
//! - [`name`]: repository names per the distribution-spec grammar.
//! - [`reference`]: a manifest reference, a tag or a digest.
//! - [`range`]: `Range` and `Content-Range` header values.
//! - [`media_type`]: the manifest media types the registry knows.
//! - [`secret`]: text that is never printed (passwords from the configuration).
//! - [`manifest`]: manifest parsing, shape checks and the list of what a manifest points at.

pub mod access;
pub mod bytes;
pub mod digest;
pub mod host;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod range;
pub mod reference;
pub mod secret;

pub use access::{Action, Level};
pub use bytes::human_bytes;
pub use digest::{Digest, DigestAlgorithm, DigestError, Hasher};
pub use manifest::{Descriptor, Manifest, ManifestError};
pub use name::{NameError, RepositoryName, check_account_name, split_host};
pub use range::{ByteRange, RangeError};
pub use reference::{Reference, ReferenceError, Tag};
pub use secret::Secret;
