//! Updates through the trust service against a real metadata store: a valid first
//! publish, then each of Notary's rules broken by a crafted update, which must be refused
//! with its error and leave the stored trust data exactly as it was.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::sync::Arc;

use berth_meta::command::{CreateAccount, CreateRepository, DeleteTag};
use berth_meta::seal::MasterKey;
use berth_meta::{AccountKind, Applied, Command, Meta, Rejection};
use berth_trust::keys::{ServerKey, key_id, verify};
use berth_trust::service::Selector;
use berth_trust::tuf::{KeyVal, Parsed, PublicKey, Role, ServerRole, Signature, file_meta};
use berth_trust::{Error, Invalid, Trust, TrustOptions, canonical};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const GUN: &str = "localhost:5443/dev/app";

/// A signing key: an X.509 root key (certificate CN given) or a plain one.
enum Signer {
    Root { pair: EcdsaKeyPair, public: PublicKey },
    Plain(ServerKey),
}

impl Signer {
    fn root(cn: &str) -> Signer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der()).unwrap();
        let public = PublicKey { keytype: "ecdsa-x509".into(), keyval: KeyVal { public: B64.encode(cert.pem()), private: None } };
        Signer::Root { pair, public }
    }

    fn plain() -> Signer {
        Signer::Plain(ServerKey::generate().unwrap().0)
    }

    fn public(&self) -> PublicKey {
        match self {
            Signer::Root { public, .. } => public.clone(),
            Signer::Plain(k) => k.public.clone(),
        }
    }

    fn id(&self) -> String {
        key_id(&self.public())
    }

    fn sign(&self, message: &[u8]) -> Signature {
        match self {
            Signer::Root { pair, .. } => {
                let sig = pair.sign(&SystemRandom::new(), message).unwrap();
                Signature { keyid: self.id(), method: "ecdsa".into(), sig: B64.encode(sig.as_ref()) }
            }
            Signer::Plain(k) => k.sign(message),
        }
    }
}

fn expires(days: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::days(days)).format(&Rfc3339).unwrap()
}

/// A role file signed by `signers`.
fn file(signed: Value, signers: &[&Signer]) -> Vec<u8> {
    let message = canonical::encode(&signed).unwrap();
    let signatures: Vec<Signature> = signers.iter().map(|s| s.sign(&message)).collect();
    serde_json::to_vec(&json!({"signed": signed, "signatures": signatures})).unwrap()
}

fn root(version: u64, root: &Signer, targets: &Signer, snapshot: &PublicKey, timestamp: &PublicKey, signers: &[&Signer]) -> Vec<u8> {
    let mut keys = BTreeMap::new();
    for key in [root.public(), targets.public(), snapshot.clone(), timestamp.clone()] {
        keys.insert(key_id(&key), key);
    }
    let role = |id: String| json!({"keyids": [id], "threshold": 1});
    let signed = json!({
        "_type": "Root", "consistent_snapshot": false, "expires": expires(3650), "keys": keys, "version": version,
        "roles": {"root": role(root.id()), "targets": role(targets.id()), "snapshot": role(key_id(snapshot)), "timestamp": role(key_id(timestamp))},
    });
    file(signed, signers)
}

fn targets(version: u64, tags: &[(&str, &[u8])], delegations: Value, signers: &[&Signer]) -> Vec<u8> {
    let targets: BTreeMap<String, Value> = tags.iter().map(|(t, m)| ((*t).to_owned(), json!(file_meta(m)))).collect();
    file(json!({"_type": "Targets", "delegations": delegations, "expires": expires(1095), "targets": targets, "version": version}), signers)
}

fn no_delegations() -> Value {
    json!({"keys": {}, "roles": []})
}

struct Fixture {
    _dir: tempfile::TempDir,
    trust: Trust,
    meta: Meta,
    master: Arc<MasterKey>,
    root: Signer,
    targets: Signer,
    snapshot: PublicKey,
    timestamp: PublicKey,
}

async fn server_key(trust: &Trust, role: ServerRole) -> PublicKey {
    serde_json::from_slice(&trust.key(GUN, role).await.unwrap()).unwrap()
}

/// Creates the organization `org` and the repository `org/name`.
async fn repository(meta: &Meta, org: &str, name: &str) {
    let account = CreateAccount {
        name: org.into(),
        kind: AccountKind::Org,
        full_name: String::new(),
        email: String::new(),
        password_hash: None,
        active: true,
        admin: false,
        ldap_dn: None,
        at: 0,
        adopt_repositories: false,
    };
    meta.apply(Command::CreateAccount(account)).await.unwrap();
    let create = CreateRepository {
        name: format!("{org}/{name}").parse().unwrap(),
        public: false,
        immutable_tags: false,
        short_description: String::new(),
        long_description: String::new(),
        signed_pulls_only: false,
        at: 0,
    };
    assert_eq!(meta.apply(Command::CreateRepository(create)).await.unwrap(), Applied::Done);
}

/// A store with the repository and the server's keys created, nothing published yet.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(&dir.path().join("meta.redb")).await.unwrap();
    repository(&meta, "dev", "app").await;
    let master = Arc::new(MasterKey::load_or_create(&dir.path().join("master.key"), None).unwrap());
    let options = TrustOptions { hosts: vec!["localhost:5443".into(), "127.0.0.1:5443".into()] };
    let trust = Trust::start(meta.clone(), master.clone(), options).await.unwrap();
    let timestamp = server_key(&trust, ServerRole::Timestamp).await;
    let snapshot = server_key(&trust, ServerRole::Snapshot).await;
    Fixture { _dir: dir, trust, meta, master, root: Signer::root(GUN), targets: Signer::plain(), snapshot, timestamp }
}

impl Fixture {
    fn root_v(&self, version: u64, signers: &[&Signer]) -> Vec<u8> {
        root(version, &self.root, &self.targets, &self.snapshot, &self.timestamp, signers)
    }

    /// Publishes root v1 and targets v2 (the docker CLI's first push).
    async fn publish(&self) {
        let parts = vec![
            ("root".into(), self.root_v(1, &[&self.root])),
            ("targets".into(), targets(2, &[("1", b"m1")], no_delegations(), &[&self.targets])),
        ];
        self.trust.update(GUN, parts).await.unwrap();
    }

    async fn state(&self) -> BTreeMap<String, (u64, Vec<u8>)> {
        self.meta.read(|r| r.trust_state(GUN)).await.unwrap()
    }

    /// Sends `parts`, expects the update refused, and the stored data unchanged.
    async fn refused(&self, parts: Vec<(&str, Vec<u8>)>) -> Error {
        let before = self.state().await;
        let parts = parts.into_iter().map(|(n, b)| (n.to_owned(), b)).collect();
        let error = self.trust.update(GUN, parts).await.unwrap_err();
        assert_eq!(self.state().await, before, "a refused update changed the stored data ({error})");
        error
    }
}

#[tokio::test]
async fn first_publish_signs_snapshot_and_timestamp() {
    let f = fixture().await;
    f.publish().await;
    let state = f.state().await;
    let versions: Vec<(&str, u64)> = state.iter().map(|(r, (v, _))| (r.as_str(), *v)).collect();
    assert_eq!(versions, vec![("root", 1), ("snapshot", 1), ("targets", 2), ("timestamp", 1)]);
    let timestamp = Parsed::parse(state["timestamp"].1.clone()).unwrap();
    let snapshot = &state["snapshot"].1;
    assert_eq!(timestamp.envelope.signed["meta"]["snapshot"], json!(file_meta(snapshot)));
    assert!(verify(&f.timestamp, &timestamp.envelope.signatures[0], &timestamp.canonical));
    let snapshot = Parsed::parse(snapshot.clone()).unwrap();
    assert!(verify(&f.snapshot, &snapshot.envelope.signatures[0], &snapshot.canonical));
    assert_eq!(snapshot.envelope.signed["meta"]["targets"], json!(file_meta(&state["targets"].1)));
    // Served by version and by checksum, byte for byte.
    let targets = &state["targets"].1;
    assert_eq!(&f.trust.get(GUN, &Role::parse("targets").unwrap(), Selector::Version(2)).await.unwrap(), targets);
    let sum = berth_trust::tuf::sha256_hex(targets);
    assert_eq!(&f.trust.get(GUN, &Role::parse("targets").unwrap(), Selector::Checksum(sum)).await.unwrap(), targets);
    assert!(matches!(f.trust.get(GUN, &Role::parse("targets").unwrap(), Selector::Version(1)).await, Err(Error::MetadataNotFound)));
}

#[tokio::test]
async fn a_new_gun_needs_a_root() {
    let f = fixture().await;
    let error = f.refused(vec![("targets", targets(2, &[], no_delegations(), &[&f.targets]))]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::Validation(_))), "{error:?}");
}

#[tokio::test]
async fn a_root_certificate_for_another_gun_is_refused() {
    let f = fixture().await;
    let other = Signer::root("localhost:5443/dev/other");
    let root = root(1, &other, &f.targets, &f.snapshot, &f.timestamp, &[&other]);
    let error = f.refused(vec![("root", root), ("targets", targets(2, &[], no_delegations(), &[&f.targets]))]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadRoot(ref m)) if m.contains("leaf certificates")), "{error:?}");
}

#[tokio::test]
async fn an_unsigned_root_is_refused() {
    let f = fixture().await;
    let error = f.refused(vec![("root", f.root_v(1, &[])), ("targets", targets(2, &[], no_delegations(), &[&f.targets]))]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadRoot(_))), "{error:?}");
}

#[tokio::test]
async fn targets_below_threshold_are_refused() {
    let f = fixture().await;
    f.publish().await;
    let stranger = Signer::plain();
    let error = f.refused(vec![("targets", targets(3, &[("2", b"m2")], no_delegations(), &[&stranger]))]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadTargets(ref m)) if m.contains("threshold")), "{error:?}");
    // A changed file under an old signature.
    let good = targets(3, &[("2", b"m2")], no_delegations(), &[&f.targets]);
    let tampered = String::from_utf8(good).unwrap().replace("\"version\":3", "\"version\":4").into_bytes();
    let error = f.refused(vec![("targets", tampered)]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadTargets(_))), "{error:?}");
}

#[tokio::test]
async fn versions_must_increase() {
    let f = fixture().await;
    f.publish().await;
    let replay = targets(2, &[("1", b"m1")], no_delegations(), &[&f.targets]);
    assert!(matches!(f.refused(vec![("targets", replay)]).await, Error::OldVersion(ref r) if r == "targets"));
    let root_again = f.root_v(1, &[&f.root]);
    assert!(matches!(f.refused(vec![("root", root_again)]).await, Error::OldVersion(ref r) if r == "root"));
    // The next version is accepted, and the server's roles move on.
    f.trust.update(GUN, vec![("targets".into(), targets(3, &[("2", b"m2")], no_delegations(), &[&f.targets]))]).await.unwrap();
    let state = f.state().await;
    assert_eq!((state["targets"].0, state["snapshot"].0, state["timestamp"].0), (3, 2, 2));
}

#[tokio::test]
async fn root_rotation_needs_the_old_root_keys() {
    let f = fixture().await;
    f.publish().await;
    let new_root = Signer::root(GUN);
    let rotated = |signers: &[&Signer]| root(2, &new_root, &f.targets, &f.snapshot, &f.timestamp, signers);
    let error = f.refused(vec![("root", rotated(&[&new_root]))]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadRoot(ref m)) if m.contains("previous root")), "{error:?}");
    f.trust.update(GUN, vec![("root".into(), rotated(&[&new_root, &f.root]))]).await.unwrap();
    assert_eq!(f.state().await["root"].0, 2);
    assert!(f.trust.get(GUN, &Role::parse("root").unwrap(), Selector::Version(1)).await.is_ok());
}

#[tokio::test]
async fn delegations_need_their_parent() {
    let f = fixture().await;
    f.publish().await;
    let alice = Signer::plain();
    let releases = targets(1, &[("1", b"m1")], no_delegations(), &[&alice]);
    let error = f.refused(vec![("targets/releases", releases.clone())]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadHierarchy { .. })), "{error:?}");
    // Once targets delegates to it, the same file is accepted (slashes in role names).
    let delegations = json!({"keys": {alice.id(): alice.public()}, "roles": [{"name": "targets/releases", "keyids": [alice.id()], "threshold": 1, "paths": [""]}]});
    let parent = targets(3, &[("1", b"m1")], delegations, &[&f.targets]);
    f.trust.update(GUN, vec![("targets".into(), parent), ("targets/releases".into(), releases)]).await.unwrap();
    let snapshot = Parsed::parse(f.state().await["snapshot"].1.clone()).unwrap();
    assert!(snapshot.envelope.signed["meta"].get("targets/releases").is_some());
}

#[tokio::test]
async fn an_uploaded_snapshot_must_match_the_files() {
    let f = fixture().await;
    let snapshot_key = Signer::plain();
    let root = root(1, &f.root, &f.targets, &snapshot_key.public(), &f.timestamp, &[&f.root]);
    let targets_file = targets(2, &[("1", b"m1")], no_delegations(), &[&f.targets]);
    let snapshot = |targets_bytes: &[u8]| {
        let meta = json!({"root": file_meta(&root), "targets": file_meta(targets_bytes)});
        file(json!({"_type": "Snapshot", "expires": expires(1095), "meta": meta, "version": 1}), &[&snapshot_key])
    };
    let error = f.refused(vec![("root", root.clone()), ("targets", targets_file.clone()), ("snapshot", snapshot(b"other bytes"))]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadSnapshot(_))), "{error:?}");
    // Without a snapshot, the server cannot make one: it does not hold the key the root names.
    let error = f.refused(vec![("root", root.clone()), ("targets", targets_file.clone())]).await;
    assert!(matches!(error, Error::InvalidUpdate(Invalid::BadHierarchy { .. })), "{error:?}");
    let parts = vec![("root".into(), root.clone()), ("targets".into(), targets_file.clone()), ("snapshot".into(), snapshot(&targets_file))];
    f.trust.update(GUN, parts).await.unwrap();
}

#[tokio::test]
async fn malformed_parts_are_refused() {
    let f = fixture().await;
    assert!(matches!(f.refused(vec![("foo", f.root_v(1, &[&f.root]))]).await, Error::InvalidRole(_)));
    assert!(matches!(f.refused(vec![("targets/../x", f.root_v(1, &[&f.root]))]).await, Error::InvalidRole(_)));
    assert!(matches!(f.refused(vec![("root", b"{not json".to_vec())]).await, Error::MalformedJson(_)));
    assert!(matches!(f.refused(vec![("root", br#"{"signed":{},"signatures":[]}"#.to_vec())]).await, Error::MalformedJson(_)));
}

#[tokio::test]
async fn an_expired_timestamp_is_re_signed_by_the_refresh_job() {
    let f = fixture().await;
    f.publish().await;
    let held = f.meta.read(|r| r.trust_keys(GUN, "timestamp")).await.unwrap();
    let (id, record) = &held[0];
    let sealed = &record.private_pkcs8;
    assert!(MasterKey::is_sealed(sealed), "server keys are stored sealed");
    let key = ServerKey::from_pkcs8(&f.master.open(&berth_trust::service::key_purpose(GUN, "timestamp", id), sealed).unwrap()).unwrap();
    let state = f.state().await;
    let snapshot = state["snapshot"].1.clone();
    let signed = json!({"_type": "Timestamp", "expires": expires(-1), "meta": {"snapshot": file_meta(&snapshot)}, "version": 2});
    let signature = key.sign(&canonical::encode(&signed).unwrap());
    let stale = serde_json::to_vec(&json!({"signed": signed, "signatures": [signature]})).unwrap();
    let put = berth_meta::command::PutTrustMetadata {
        gun: GUN.into(),
        repository: "dev/app".parse().unwrap(),
        files: vec![berth_meta::command::TrustFile {
            role: "timestamp".into(),
            version: 2,
            sha256: berth_trust::tuf::sha256_hex(&stale),
            bytes: stale,
        }],
        expected: state.iter().map(|(role, (version, _))| (role.clone(), *version)).collect(),
        signed: f
            .meta
            .read(|r| r.signed_tags("dev/app"))
            .await
            .unwrap()
            .into_iter()
            .map(|(tag, t)| berth_meta::command::SignedTag { tag, digest: t.digest, role: t.role })
            .collect(),
    };
    assert_eq!(f.meta.apply(berth_meta::Command::PutTrustMetadata(put)).await.unwrap(), berth_meta::Applied::Done);

    assert_eq!(f.trust.refresh_timestamps().await.unwrap(), 1, "the job re-signs what has expired");
    let served = Parsed::parse(f.trust.get(GUN, &Role::parse("timestamp").unwrap(), Selector::Current).await.unwrap()).unwrap();
    assert_eq!(served.common.version, 3);
    assert!(!berth_trust::validate::expired(&served.common.expires, OffsetDateTime::now_utc()));
    assert!(verify(&f.timestamp, &served.envelope.signatures[0], &served.canonical));
    assert_eq!(served.envelope.signed["meta"]["snapshot"], json!(file_meta(&snapshot)));
    assert_eq!(f.state().await["timestamp"].0, 3, "the re-signed timestamp is stored");
}

#[tokio::test]
async fn one_trust_collection_per_repository() {
    let f = fixture().await;
    f.publish().await;
    // The same repository under another of the registry's names, or under a host that is
    // not the registry's: no key, no data.
    let alias = "127.0.0.1:5443/dev/app";
    assert!(matches!(f.trust.key(alias, ServerRole::Timestamp).await, Err(Error::CollectionExists(ref g)) if g == GUN));
    let alias_root = Signer::root(alias);
    let parts = vec![("root".to_owned(), root(1, &alias_root, &f.targets, &f.snapshot, &f.timestamp, &[&alias_root]))];
    assert!(matches!(f.trust.update(alias, parts).await, Err(Error::CollectionExists(_))));
    for foreign in ["evil.example.com/dev/app", "localhost:9999/dev/app", "dev/app"] {
        assert!(matches!(f.trust.key(foreign, ServerRole::Timestamp).await, Err(Error::ForeignGun { .. })), "{foreign}");
        assert!(
            matches!(f.trust.get(foreign, &Role::parse("root").unwrap(), Selector::Current).await, Err(Error::ForeignGun { .. })),
            "{foreign}"
        );
    }
    // A repository that does not exist gets no keys (and so no trust data).
    assert!(matches!(f.trust.key("localhost:5443/dev/missing", ServerRole::Timestamp).await, Err(Error::RepositoryUnknown)));
    assert!(f.meta.read(|r| r.trust_keys("127.0.0.1:5443/dev/app", "timestamp")).await.unwrap().is_empty());
    assert_eq!(f.meta.read(|r| r.trust_guns("dev/app")).await.unwrap(), vec![GUN.to_owned()]);
}

#[tokio::test]
async fn signed_tags_are_indexed_and_cannot_be_deleted() {
    let f = fixture().await;
    // A manifest tagged `1` whose digest the targets file signs.
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec();
    let digest = berth_core::Digest::sha256_of(&manifest);
    let put = berth_meta::command::PutManifest {
        repository: "dev/app".parse().unwrap(),
        digest: digest.clone(),
        content: manifest.clone(),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        artifact_type: None,
        annotations: None,
        blobs: vec![],
        children: vec![],
        subject: None,
        tag: Some("1".parse().unwrap()),
        at: 1,
        pushed_by: None,
        cached: false,
    };
    assert_eq!(f.meta.apply(Command::PutManifest(put)).await.unwrap(), Applied::Done);
    let parts = vec![
        ("root".into(), f.root_v(1, &[&f.root])),
        ("targets".into(), targets(2, &[("1", &manifest)], no_delegations(), &[&f.targets])),
    ];
    f.trust.update(GUN, parts).await.unwrap();
    let signed = f.trust.signed_tags("dev/app").await.unwrap();
    assert_eq!(signed["1"].digest, digest.to_string());
    let delete_tag = Command::DeleteTag(DeleteTag { repository: "dev/app".parse().unwrap(), tag: "1".parse().unwrap(), at: 0, by: None });
    assert_eq!(f.meta.apply(delete_tag.clone()).await.unwrap(), Applied::Rejected(Rejection::TagSigned("1".into())));
    let delete_manifest =
        Command::DeleteManifest(berth_meta::command::DeleteManifest { repository: "dev/app".parse().unwrap(), digest, at: 0, by: None });
    assert_eq!(f.meta.apply(delete_manifest).await.unwrap(), Applied::Rejected(Rejection::TagSigned("1".into())));
    // Once the signature is gone, the tag can go.
    f.trust.update(GUN, vec![("targets".into(), targets(3, &[], no_delegations(), &[&f.targets]))]).await.unwrap();
    assert!(f.trust.signed_tags("dev/app").await.unwrap().is_empty());
    assert_eq!(f.meta.apply(delete_tag).await.unwrap(), Applied::Done);
}
