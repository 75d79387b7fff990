//! The registry's rules, through its service methods over a real store in a temporary
//! directory: tags (order, immutability, deletes), deletes of signed content, blob
//! mounts, namespaces, and the signing policy pulls by tag obey.
#![allow(clippy::unwrap_used)]

use berth_core::{Digest, Reference, RepositoryName};
use berth_meta::command::{CreateAccount, PutTrustMetadata, SignedTag, TrustFile};
use berth_meta::{AccountKind, Applied, Command, Meta, SigningPolicy};
use berth_registry::{Error, Limits, NewRepository, Page, Registry, RepositoryChanges};
use berth_storage::{FsStore, Storage};
use bytes::Bytes;

struct World {
    _dir: tempfile::TempDir,
    meta: Meta,
    registry: Registry,
}

fn name(s: &str) -> RepositoryName {
    s.parse().unwrap()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(&dir.path().join("meta.redb")).await.unwrap();
    let storage = FsStore::open(dir.path().join("storage"), 1 << 30).unwrap();
    let registry = Registry::new(std::sync::Arc::new(Storage::Fs(storage)), meta.clone(), Limits::default());
    for org in ["acme", "other"] {
        let create = CreateAccount {
            name: org.into(),
            kind: AccountKind::Org,
            full_name: String::new(),
            email: String::new(),
            password_hash: None,
            active: true,
            admin: false,
            ldap_dn: None,
            at: 1,
            adopt_repositories: false,
        };
        assert_eq!(meta.apply(Command::CreateAccount(create)).await.unwrap(), Applied::Done);
    }
    World { _dir: dir, meta, registry }
}

fn body(bytes: &'static [u8]) -> berth_registry::ByteStream {
    Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(bytes))]))
}

impl World {
    async fn blob(&self, repo: &str, bytes: &'static [u8]) -> Digest {
        let digest = Digest::sha256_of(bytes);
        let upload = self.registry.start_upload(&name(repo)).await.unwrap();
        self.registry.complete_upload(&name(repo), &upload.id, &digest, Some(body(bytes))).await.unwrap();
        digest
    }

    /// Pushes an image (config and one layer) as `reference`; its digest.
    async fn image(&self, repo: &str, reference: &str, seed: &'static str) -> Digest {
        let config = self.blob(repo, b"{}").await;
        let layer = self.blob(repo, seed.as_bytes()).await;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{}}}]}}"#,
            seed.len()
        );
        let reference: Reference = reference.parse().unwrap();
        self.registry
            .put_manifest(&name(repo), &reference, Some("application/vnd.oci.image.manifest.v1+json"), manifest.into_bytes(), None)
            .await
            .unwrap()
            .digest
    }

    /// Stores trust data signing `tag` with `digest` (as a validated update would).
    async fn sign(&self, repo: &str, tag: &str, digest: &Digest) {
        let gun = format!("localhost:5443/{repo}");
        let g = gun.clone();
        let expected: std::collections::BTreeMap<String, u64> =
            self.meta.read(move |r| Ok(r.trust_state(&g)?.into_iter().map(|(role, (v, _))| (role, v)).collect())).await.unwrap();
        let version = expected.get("targets").copied().unwrap_or(0) + 1;
        let file = TrustFile { role: "targets".into(), version, sha256: format!("{version:064x}"), bytes: b"{}".to_vec() };
        let signed = vec![SignedTag { tag: tag.into(), digest: digest.to_string(), role: "targets".into() }];
        let put = PutTrustMetadata { gun, repository: name(repo), files: vec![file], expected, signed };
        assert_eq!(self.meta.apply(Command::PutTrustMetadata(put)).await.unwrap(), Applied::Done);
    }
}

#[tokio::test]
async fn repositories_live_in_account_namespaces() {
    let w = world().await;
    assert!(matches!(w.registry.start_upload(&name("nobody/app")).await, Err(Error::NamespaceUnknown(ns)) if ns == "nobody"));
    assert!(matches!(w.registry.create_repository(&name("nobody/app"), NewRepository::default()).await, Err(Error::NamespaceUnknown(_))));
    w.registry.create_repository(&name("acme/new"), NewRepository { public: true, ..NewRepository::default() }).await.unwrap();
    assert!(matches!(w.registry.create_repository(&name("acme/new"), NewRepository::default()).await, Err(Error::RepositoryExists)));
    assert!(w.registry.repository(&name("acme/new")).await.unwrap().public);
    assert!(matches!(w.registry.repository(&name("acme/none")).await, Err(Error::NameUnknown)));
}

#[tokio::test]
async fn tags_are_sorted_immutable_when_asked_and_deleted_one_by_one_once_mutable() {
    let w = world().await;
    let one = w.image("acme/app", "b", "one").await;
    w.image("acme/app", "a", "one").await;
    w.image("acme/app", "c", "two").await;
    assert_eq!(w.registry.tags(&name("acme/app"), Page::default()).await.unwrap().items, ["a", "b", "c"]);
    assert!(matches!(w.registry.tags(&name("acme/none"), Page::default()).await, Err(Error::NameUnknown)));
    // Immutable: a tag may be pushed again with the same digest, never moved.
    w.registry
        .update_repository(&name("acme/app"), RepositoryChanges { immutable_tags: Some(true), ..RepositoryChanges::default() })
        .await
        .unwrap();
    w.image("acme/app", "b", "one").await;
    let config = w.blob("acme/app", b"{}").await;
    let moved = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[]}}"#
    );
    let refused = w.registry.put_manifest(&name("acme/app"), &"b".parse().unwrap(), None, moved.into_bytes(), None).await;
    assert!(matches!(refused, Err(Error::TagImmutable(t)) if t == "b"));
    // Nor deleted, alone or with its manifest, until the setting is off.
    let deleted = w.registry.delete_manifest(&name("acme/app"), &"c".parse().unwrap(), None).await;
    assert!(matches!(deleted, Err(Error::TagImmutableDeletion(t)) if t == "c"));
    let deleted = w.registry.delete_manifest(&name("acme/app"), &Reference::Digest(one.clone()), None).await;
    assert!(matches!(deleted, Err(Error::TagImmutableDeletion(_))));
    w.registry
        .update_repository(&name("acme/app"), RepositoryChanges { immutable_tags: Some(false), ..RepositoryChanges::default() })
        .await
        .unwrap();
    // A tag delete takes that tag; a delete by digest takes the manifest and its tags.
    w.registry.delete_manifest(&name("acme/app"), &"c".parse().unwrap(), None).await.unwrap();
    w.registry.delete_manifest(&name("acme/app"), &Reference::Digest(one), None).await.unwrap();
    assert!(w.registry.tags(&name("acme/app"), Page::default()).await.unwrap().items.is_empty());
    assert!(matches!(w.registry.delete_manifest(&name("acme/app"), &"c".parse().unwrap(), None).await, Err(Error::ManifestUnknown)));
}

#[tokio::test]
async fn signed_tags_survive_every_delete_until_unsigned() {
    let w = world().await;
    let signed = w.image("acme/app", "v1", "signed").await;
    w.sign("acme/app", "v1", &signed).await;
    let tags = w.registry.tags_with_trust(&name("acme/app")).await.unwrap();
    assert_eq!(tags[0].signed.as_ref().map(|s| s.digest.clone()), Some(signed.to_string()));
    assert!(!tags[0].hash_mismatch());
    assert!(
        matches!(w.registry.delete_manifest(&name("acme/app"), &"v1".parse().unwrap(), None).await, Err(Error::TagSigned(t)) if t == "v1")
    );
    assert!(matches!(
        w.registry.delete_manifest(&name("acme/app"), &Reference::Digest(signed.clone()), None).await,
        Err(Error::TagSigned(_))
    ));
    // The tag moves (an unsigned push over it): the signed manifest still cannot go.
    w.image("acme/app", "v1", "unsigned").await;
    assert!(w.registry.tags_with_trust(&name("acme/app")).await.unwrap()[0].hash_mismatch());
    assert!(matches!(w.registry.delete_manifest(&name("acme/app"), &Reference::Digest(signed), None).await, Err(Error::TagSigned(_))));
    // Deleting the repository takes its trust data with it.
    w.registry.delete_repository(&name("acme/app")).await.unwrap();
    assert!(w.meta.read(|r| r.signed_tags("acme/app")).await.unwrap().is_empty());
}

#[tokio::test]
async fn mounts_lend_only_what_the_source_holds() {
    let w = world().await;
    let layer = w.blob("acme/src", b"shared layer").await;
    let mounted = w.registry.mount_blob(&name("other/dst"), &layer, &name("acme/src")).await.unwrap();
    assert_eq!(mounted.map(|i| i.size), Some(12));
    assert_eq!(w.registry.stat_blob(&name("other/dst"), &layer).await.unwrap().size, 12);
    // A source that does not hold the blob lends nothing, even if another repository does.
    let missing = w.registry.mount_blob(&name("acme/third"), &layer, &name("acme/empty")).await.unwrap();
    assert!(missing.is_none());
    assert!(matches!(w.registry.stat_blob(&name("acme/third"), &layer).await, Err(Error::BlobUnknown(_))));
    // Nor into a namespace without an account.
    assert!(matches!(w.registry.mount_blob(&name("nobody/x"), &layer, &name("acme/src")).await, Err(Error::NamespaceUnknown(_))));
}

#[tokio::test]
async fn pulls_by_tag_obey_the_signing_policy() {
    let w = world().await;
    let signed = w.image("acme/app", "signed", "s").await;
    let unsigned = w.image("acme/app", "unsigned", "u").await;
    w.sign("acme/app", "signed", &signed).await;
    let repository = name("acme/app");
    let pull = |reference: &str| {
        let reference: Reference = reference.parse().unwrap();
        let (registry, repository) = (&w.registry, &repository);
        async move { registry.get_manifest(repository, &reference).await }
    };
    assert!(pull("unsigned").await.is_ok(), "no policy, no refusal");
    // On the repository.
    w.registry
        .update_repository(&name("acme/app"), RepositoryChanges { signed_pulls_only: Some(true), ..RepositoryChanges::default() })
        .await
        .unwrap();
    assert_eq!(pull("signed").await.unwrap().digest, signed);
    assert!(matches!(pull("unsigned").await, Err(Error::Unsigned(why)) if why.contains("not signed")));
    assert!(pull(unsigned.as_str()).await.is_ok(), "pulls by digest are not affected");
    // On the namespace.
    w.registry
        .update_repository(&name("acme/app"), RepositoryChanges { signed_pulls_only: Some(false), ..RepositoryChanges::default() })
        .await
        .unwrap();
    let policy = SigningPolicy { signed_pulls_only: true, signature_keys: vec![] };
    w.registry.set_namespace_policy("acme", policy).await.unwrap();
    assert!(matches!(pull("unsigned").await, Err(Error::Unsigned(_))));
    w.registry.set_namespace_policy("acme", SigningPolicy::default()).await.unwrap();
    assert!(pull("unsigned").await.is_ok());
    assert!(matches!(
        w.registry.set_namespace_policy("acme", SigningPolicy { signed_pulls_only: true, signature_keys: vec!["not a key".into()] }).await,
        Err(Error::Invalid(_))
    ));
    let tag_moved = w.image("acme/app", "signed", "moved").await;
    w.registry.set_namespace_policy("acme", SigningPolicy { signed_pulls_only: true, signature_keys: vec![] }).await.unwrap();
    assert!(
        matches!(pull("signed").await, Err(Error::Unsigned(why)) if why.contains(tag_moved.as_str())),
        "a moved tag is not the signed digest"
    );
}
