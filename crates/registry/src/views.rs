//! What the web UI shows of repositories and tags, each page read in one metadata
//! snapshot: the tag table (sizes, platforms, who pushed and when, last pull, signed
//! state, signatures and other referrers) sorted and paged on the server, and one tag in
//! detail (layers, an index's children, the config's history, where the tag pointed).
//! Who may see a repository is not decided here: the caller asks `berth-auth` first.

use std::collections::BTreeMap;

use berth_core::{Digest, RepositoryName};
use berth_meta::query::Reader;
use berth_meta::{Page, Repository};
use berth_storage::BlobStore;
use serde_json::Value;

use crate::signatures::{cosign, notation};
use crate::{Error, Registry};

/// How the tag table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSort {
    /// By name, A to Z.
    Name,
    /// Most recently pushed first.
    Pushed,
}

/// One row of the tag table.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRow {
    /// The tag.
    pub name: String,
    /// The manifest it points at.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// Compressed size: the config and layers (of every child, for an index).
    pub size: u64,
    /// `os/architecture[/variant]` of each child of an index (empty for an image).
    pub platforms: Vec<String>,
    /// When the tag last moved (or the manifest was pushed).
    pub pushed_at: u64,
    /// Who moved it, when known.
    pub pushed_by: Option<String>,
    /// When the manifest was last pulled, when known.
    pub last_pulled: Option<u64>,
    /// Signed in the repository's trust data (Notary).
    pub in_notary: bool,
    /// Signed in the trust data, but for another digest than the tag's.
    pub hash_mismatch: bool,
    /// Signatures stored as OCI referrers: `cosign`, `notation`.
    pub signatures: Vec<String>,
    /// Other referrers (SBOMs, attestations…), by artifact type.
    pub accessories: Vec<String>,
}

/// A page of the tag table.
#[derive(Debug, Clone, PartialEq)]
pub struct TagPage {
    /// The rows.
    pub rows: Vec<TagRow>,
    /// Tags in all.
    pub total: usize,
}

/// A layer (or the config) of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// A child of an index.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// Its digest.
    pub digest: String,
    /// `os/architecture[/variant]`, or empty.
    pub platform: String,
    /// Its compressed size (config and layers).
    pub size: u64,
}

/// One step of the config's history: the command that built a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildStep {
    /// When.
    pub created: String,
    /// The command.
    pub created_by: String,
    /// Whether it made no layer.
    pub empty_layer: bool,
}

/// A move of the tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TagMove {
    /// Where it pointed from then on (`None`: deleted).
    pub digest: Option<String>,
    /// When.
    pub at: u64,
    /// Who, when known.
    pub by: Option<String>,
}

/// A referrer of the tag's manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferrerView {
    /// Its digest.
    pub digest: String,
    /// Its artifact type.
    pub artifact_type: String,
}

/// One tag in detail.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDetail {
    /// Its row.
    pub row: TagRow,
    /// The config, for an image.
    pub config: Option<Layer>,
    /// The layers, for an image.
    pub layers: Vec<Layer>,
    /// The children, for an index.
    pub children: Vec<Child>,
    /// The config's history (empty when the config says none).
    pub build: Vec<BuildStep>,
    /// Where the tag pointed, newest first.
    pub moves: Vec<TagMove>,
    /// Referrers of the manifest.
    pub referrers: Vec<ReferrerView>,
}

/// A repository as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepositoryRow {
    /// Its name.
    pub name: String,
    /// Its settings.
    pub record: Repository,
    /// How many tags it has.
    pub tags: usize,
}

/// The largest config blob read for its history.
const MAX_CONFIG: u64 = 1 << 20;
/// How many moves of a tag the detail shows.
const MOVES_SHOWN: usize = 20;

/// Cosign's signature, attestation and SBOM tags (`sha256-<hex>.sig`): accessories of a
/// manifest, not tags of their own.
pub fn is_accessory_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else { return false };
    let Some((hex, suffix)) = rest.split_once('.') else { return false };
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(suffix, "sig" | "att" | "sbom")
}

fn platform_of(value: &Value) -> String {
    let (os, arch) = (value["os"].as_str().unwrap_or_default(), value["architecture"].as_str().unwrap_or_default());
    if os.is_empty() || arch.is_empty() || os == "unknown" {
        return String::new();
    }
    match value["variant"].as_str() {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    }
}

fn layer_of(value: &Value) -> Layer {
    Layer {
        digest: value["digest"].as_str().unwrap_or_default().to_owned(),
        size: value["size"].as_u64().unwrap_or(0),
        media_type: value["mediaType"].as_str().unwrap_or_default().to_owned(),
    }
}

/// A manifest's config and layers (an image), or children (an index).
struct Shape {
    config: Option<Layer>,
    layers: Vec<Layer>,
    children: Vec<(String, String)>,
}

fn shape(content: &[u8]) -> Shape {
    let value: Value = serde_json::from_slice(content).unwrap_or_default();
    let children = value["manifests"]
        .as_array()
        .map(|m| m.iter().map(|c| (c["digest"].as_str().unwrap_or_default().to_owned(), platform_of(&c["platform"]))).collect())
        .unwrap_or_default();
    let config = value.get("config").map(layer_of);
    let layers = value["layers"].as_array().map(|l| l.iter().map(layer_of).collect()).unwrap_or_default();
    Shape { config, layers, children }
}

/// An image's compressed size: its config and layers.
fn image_size(shape: &Shape) -> u64 {
    shape.config.as_ref().map_or(0, |c| c.size) + shape.layers.iter().map(|l| l.size).sum::<u64>()
}

/// The children of an index with their sizes, read from their manifests.
fn children_of(reader: &Reader, index: &Shape) -> Result<Vec<Child>, berth_meta::Error> {
    let mut children = Vec::new();
    for (digest, platform) in &index.children {
        let size = reader.manifest_content(digest)?.map_or(0, |c| image_size(&shape(&c)));
        children.push(Child { digest: digest.clone(), platform: platform.clone(), size });
    }
    Ok(children)
}

/// When the tag last moved and who moved it: its history, or the manifest's push.
fn last_move(reader: &Reader, repo: &str, tag: &str) -> Result<Option<(String, u64, Option<String>)>, berth_meta::Error> {
    if let Some(event) = reader.tag_history(repo, tag, 1)?.pop()
        && let Some(digest) = event.digest
    {
        return Ok(Some((digest, event.at, event.by)));
    }
    let Some(digest) = reader.tag(repo, tag)? else { return Ok(None) };
    let record = reader.manifest(repo, digest.as_str())?;
    Ok(Some((digest.to_string(), record.as_ref().map_or(0, |m| m.pushed_at), record.and_then(|m| m.pushed_by))))
}

fn row(reader: &Reader, repo: &str, tag: &str, signed: &BTreeMap<String, String>) -> Result<Option<(TagRow, Shape)>, berth_meta::Error> {
    let Some(digest) = reader.tag(repo, tag)? else { return Ok(None) };
    let digest = digest.to_string();
    let record = reader.manifest(repo, &digest)?;
    let content = reader.manifest_content(&digest)?.unwrap_or_default();
    let shape = shape(&content);
    let children = children_of(reader, &shape)?;
    let size = if shape.children.is_empty() { image_size(&shape) } else { children.iter().map(|c| c.size).sum() };
    let (pushed_at, pushed_by) = match last_move(reader, repo, tag)? {
        Some((moved_to, at, by)) if moved_to == digest => (at, by),
        _ => (record.as_ref().map_or(0, |m| m.pushed_at), record.as_ref().and_then(|m| m.pushed_by.clone())),
    };
    let (mut signatures, mut accessories) = (Vec::new(), Vec::new());
    for referrer in reader.referrers(repo, &digest, None)? {
        match referrer.artifact_type.as_deref() {
            Some(cosign::ARTIFACT_TYPE) => signatures.push("cosign".to_owned()),
            Some(notation::ARTIFACT_TYPE) => signatures.push("notation".to_owned()),
            other => accessories.push(other.unwrap_or(&referrer.media_type).to_owned()),
        }
    }
    let cosign_tag = format!("{}.sig", digest.replacen(':', "-", 1));
    if reader.tag(repo, &cosign_tag)?.is_some() {
        signatures.push("cosign".to_owned());
    }
    signatures.sort();
    signatures.dedup();
    let row = TagRow {
        name: tag.to_owned(),
        media_type: record.as_ref().map(|m| m.media_type.clone()).unwrap_or_default(),
        size,
        platforms: children.iter().map(|c| c.platform.clone()).filter(|p| !p.is_empty()).collect(),
        pushed_at,
        pushed_by,
        last_pulled: record.and_then(|m| m.last_pulled),
        in_notary: signed.contains_key(tag),
        hash_mismatch: signed.get(tag).is_some_and(|s| *s != digest),
        signatures,
        accessories,
        digest,
    };
    Ok(Some((row, shape)))
}

fn signed_map(reader: &Reader, repo: &str) -> Result<BTreeMap<String, String>, berth_meta::Error> {
    Ok(reader.signed_tags(repo)?.into_iter().map(|(tag, target)| (tag, target.digest)).collect())
}

impl Registry {
    /// A page of `repository`'s tag table: `per_page` rows from row `offset`, sorted as
    /// asked. Cosign's `.sig`/`.att`/`.sbom` tags are accessories, not rows.
    pub async fn tag_page(&self, repository: &RepositoryName, sort: TagSort, offset: usize, per_page: usize) -> Result<TagPage, Error> {
        let repo = repository.to_string();
        let found = self
            .meta
            .read_latest(move |r| {
                if !r.repository_exists(&repo)? {
                    return Ok(None);
                }
                let mut names: Vec<String> = r.tags(&repo, &Page::default())?.items.into_iter().filter(|t| !is_accessory_tag(t)).collect();
                if sort == TagSort::Pushed {
                    let moves = r.last_tag_moves(&repo)?;
                    let mut keyed = Vec::with_capacity(names.len());
                    for name in names {
                        let at = match moves.get(&name) {
                            Some(at) => *at,
                            // Tags from before the history was kept: their manifest's push.
                            None => last_move(r, &repo, &name)?.map_or(0, |m| m.1),
                        };
                        keyed.push((std::cmp::Reverse(at), name));
                    }
                    // Only the rows up to the page are put in order.
                    let shown = (offset + per_page).min(keyed.len());
                    if shown < keyed.len() {
                        keyed.select_nth_unstable(shown);
                    }
                    keyed[..shown].sort();
                    names = keyed.into_iter().map(|(_, name)| name).collect();
                }
                let total = names.len();
                let signed = signed_map(r, &repo)?;
                let mut rows = Vec::new();
                for name in names.iter().skip(offset).take(per_page) {
                    if let Some((row, _)) = row(r, &repo, name, &signed)? {
                        rows.push(row);
                    }
                }
                Ok(Some(TagPage { rows, total }))
            })
            .await?;
        found.ok_or(Error::NameUnknown)
    }

    /// One tag in detail; `ManifestUnknown` when there is no such tag.
    pub async fn tag_detail(&self, repository: &RepositoryName, tag: &str) -> Result<TagDetail, Error> {
        let (repo, name) = (repository.to_string(), tag.to_owned());
        let found = self
            .meta
            .read_latest(move |r| {
                if !r.repository_exists(&repo)? {
                    return Ok(Err(Error::NameUnknown));
                }
                let signed = signed_map(r, &repo)?;
                let Some((row, shape)) = row(r, &repo, &name, &signed)? else { return Ok(Err(Error::ManifestUnknown)) };
                let children = children_of(r, &shape)?;
                let moves = r
                    .tag_history(&repo, &name, MOVES_SHOWN)?
                    .into_iter()
                    .map(|e| TagMove { digest: e.digest, at: e.at, by: e.by })
                    .collect();
                let referrers = r
                    .referrers(&repo, &row.digest, None)?
                    .into_iter()
                    .map(|d| ReferrerView { digest: d.digest.to_string(), artifact_type: d.artifact_type.unwrap_or(d.media_type) })
                    .collect();
                Ok(Ok(TagDetail { row, config: shape.config, layers: shape.layers, children, build: Vec::new(), moves, referrers }))
            })
            .await??;
        let mut detail = found;
        if let Some(config) = &detail.config {
            detail.build = self.build_steps(repository, config).await;
        }
        Ok(detail)
    }

    /// The config's history (the commands that built the image); empty when the config
    /// cannot be read or says nothing.
    async fn build_steps(&self, repository: &RepositoryName, config: &Layer) -> Vec<BuildStep> {
        use futures_util::StreamExt as _;
        let Ok(digest) = config.digest.parse::<Digest>() else { return Vec::new() };
        if config.size > MAX_CONFIG || self.stat_blob(repository, &digest).await.is_err() {
            return Vec::new();
        }
        let Ok(Some(reader)) = self.storage.open(&digest, None).await else { return Vec::new() };
        let mut bytes = Vec::new();
        let mut stream = reader.stream;
        while let Some(Ok(chunk)) = stream.next().await {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_CONFIG {
                return Vec::new();
            }
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        value["history"]
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .map(|s| BuildStep {
                        created: s["created"].as_str().unwrap_or_default().to_owned(),
                        created_by: s["created_by"].as_str().unwrap_or_default().to_owned(),
                        empty_layer: s["empty_layer"].as_bool().unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The repositories named, as the list shows them (missing ones left out).
    pub async fn repository_rows(&self, names: Vec<String>) -> Result<Vec<RepositoryRow>, Error> {
        Ok(self
            .meta
            .read_latest(move |r| {
                let mut rows = Vec::with_capacity(names.len());
                for name in names {
                    let Some(record) = r.repository(&name)? else { continue };
                    let tags = r.tags(&name, &Page::default())?.items.iter().filter(|t| !is_accessory_tag(t)).count();
                    rows.push(RepositoryRow { name, record, tags });
                }
                Ok(rows)
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_images_and_indexes() {
        let image = br#"{"config":{"digest":"sha256:c","size":10,"mediaType":"x"},"layers":[{"digest":"sha256:l","size":90}]}"#;
        assert_eq!(image_size(&shape(image)), 100);
        let index = br#"{"manifests":[{"digest":"sha256:a","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},{"digest":"sha256:b","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let s = shape(index);
        assert_eq!(s.children, [("sha256:a".to_owned(), "linux/arm64/v8".to_owned()), ("sha256:b".to_owned(), String::new())]);
        assert_eq!(image_size(&shape(b"not json")), 0);
    }

    #[test]
    fn cosign_tags_are_accessories() {
        assert!(is_accessory_tag(&format!("sha256-{}.sig", "a".repeat(64))));
        assert!(is_accessory_tag(&format!("sha256-{}.att", "0".repeat(64))));
        assert!(!is_accessory_tag("v1.sig"));
        assert!(!is_accessory_tag(&format!("sha256-{}.txt", "a".repeat(64))));
    }
}
