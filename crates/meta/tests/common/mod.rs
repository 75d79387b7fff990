//! Commands and stores the metadata tests share.
#![allow(dead_code)]

use berth_core::{Digest, RepositoryName};
use berth_meta::command::{CreateAccount, CreateRepository};
use berth_meta::{AccountKind, Command, Meta};

/// The digest of `s`.
pub fn d(s: &str) -> Digest {
    Digest::sha256_of(s.as_bytes())
}

/// `s` as a repository name.
pub fn repo(s: &str) -> RepositoryName {
    s.parse().unwrap()
}

/// Creates an account.
pub fn account(name: &str, kind: AccountKind, admin: bool) -> Command {
    Command::CreateAccount(CreateAccount {
        name: name.into(),
        kind,
        full_name: String::new(),
        email: String::new(),
        password_hash: (kind == AccountKind::User).then(|| "$argon2id$placeholder".into()),
        active: true,
        admin,
        ldap_dn: None,
        at: 1,
        adopt_repositories: false,
    })
}

/// Creates an organization.
pub fn org(name: &str) -> Command {
    account(name, AccountKind::Org, false)
}

/// Creates a repository explicitly.
pub fn create_repository(name: &str) -> Command {
    Command::CreateRepository(CreateRepository {
        name: repo(name),
        public: false,
        immutable_tags: false,
        short_description: String::new(),
        long_description: String::new(),
        signed_pulls_only: false,
        at: 1,
    })
}

/// A fresh store in a temporary directory.
pub async fn store() -> (tempfile::TempDir, Meta) {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(&dir.path().join("meta.redb")).await.unwrap();
    (dir, meta)
}
