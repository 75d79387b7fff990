//! Repositories and their settings: created explicitly or by a first push, read, changed,
//! deleted with everything in them. (Who may do which is asked of `berth-auth` first.)

use berth_core::RepositoryName;
use berth_meta::command::{CreateRepository, DeleteRepository, UpdateRepository};
use berth_meta::{Applied, Command, Rejection, Repository, now};

use crate::{Error, Registry, namespace_unknown, unexpected};

/// A repository to create.
#[derive(Debug, Clone, Default)]
pub struct NewRepository {
    /// Anyone (and anonymous callers, when allowed) may pull.
    pub public: bool,
    /// Tags may never move.
    pub immutable_tags: bool,
    /// One-line description.
    pub short_description: String,
    /// Long description (Markdown).
    pub long_description: String,
    /// Pulls by tag must be signed.
    pub signed_pulls_only: bool,
}

/// Changes to a repository's settings; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct RepositoryChanges {
    /// Public or private.
    pub public: Option<bool>,
    /// Immutable tags.
    pub immutable_tags: Option<bool>,
    /// One-line description.
    pub short_description: Option<String>,
    /// Long description.
    pub long_description: Option<String>,
    /// Pulls by tag must be signed.
    pub signed_pulls_only: Option<bool>,
    /// PEM public keys whose cosign and notation signatures count.
    pub signature_keys: Option<Vec<String>>,
    /// The most tags kept (0: no limit); the next tagged push prunes the oldest beyond it.
    pub tag_limit: Option<u64>,
}

impl Registry {
    /// Creates a repository in an account's namespace.
    pub async fn create_repository(&self, name: &RepositoryName, new: NewRepository) -> Result<Repository, Error> {
        let command = CreateRepository {
            name: name.clone(),
            public: new.public,
            immutable_tags: new.immutable_tags,
            short_description: new.short_description,
            long_description: new.long_description,
            signed_pulls_only: new.signed_pulls_only,
            at: now(),
        };
        match self.meta.apply(Command::CreateRepository(command)).await? {
            Applied::Done => self.repository(name).await,
            Applied::Rejected(Rejection::RepositoryExists) => Err(Error::RepositoryExists),
            Applied::Rejected(Rejection::NamespaceUnknown) => Err(namespace_unknown(name)),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// A repository's settings; `NameUnknown` when it does not exist.
    pub async fn repository(&self, name: &RepositoryName) -> Result<Repository, Error> {
        let key = name.to_string();
        self.meta.read_latest(move |r| r.repository(&key)).await?.ok_or(Error::NameUnknown)
    }

    /// Every repository (of `namespace`, when given), sorted, with its settings.
    pub async fn repositories(&self, namespace: Option<&str>) -> Result<Vec<(String, Repository)>, Error> {
        let namespace = namespace.map(str::to_owned);
        Ok(self
            .meta
            .read_latest(move |r| {
                let mut found = Vec::new();
                for name in r.repositories(&berth_meta::Page::default())?.items {
                    if namespace.as_deref().is_some_and(|ns| name.split('/').next() != Some(ns)) {
                        continue;
                    }
                    if let Some(record) = r.repository(&name)? {
                        found.push((name, record));
                    }
                }
                Ok(found)
            })
            .await?)
    }

    /// Changes a repository's settings.
    pub async fn update_repository(&self, name: &RepositoryName, changes: RepositoryChanges) -> Result<Repository, Error> {
        if let Some(keys) = &changes.signature_keys {
            Registry::check_signature_keys(keys)?;
        }
        let command = UpdateRepository {
            name: name.clone(),
            public: changes.public,
            immutable_tags: changes.immutable_tags,
            short_description: changes.short_description,
            long_description: changes.long_description,
            signed_pulls_only: changes.signed_pulls_only,
            signature_keys: changes.signature_keys,
            tag_limit: changes.tag_limit,
        };
        match self.meta.apply(Command::UpdateRepository(command)).await? {
            Applied::Done => self.repository(name).await,
            Applied::Rejected(Rejection::RepositoryUnknown) => Err(Error::NameUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Deletes a repository with its tags, manifests, blob links, grants and trust data.
    pub async fn delete_repository(&self, name: &RepositoryName) -> Result<(), Error> {
        match self.meta.apply(Command::DeleteRepository(DeleteRepository { name: name.clone() })).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::RepositoryUnknown) => Err(Error::NameUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }
}
