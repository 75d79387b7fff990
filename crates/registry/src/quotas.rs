//! Namespace storage quotas: the bytes of distinct blobs a namespace's manifests may use.
//! A manifest push that would pass it is refused (inside the metadata transaction).

use berth_meta::command::PutSetting;
use berth_meta::{Applied, Command, Setting};

use crate::{Error, Registry, unexpected};

/// A namespace's quota and what it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUsage {
    /// The limit in bytes (`None`: no quota).
    pub limit: Option<u64>,
    /// Bytes of distinct blobs its manifests use.
    pub used: u64,
}

impl Registry {
    /// A namespace's quota and usage.
    pub async fn quota(&self, namespace: &str) -> Result<QuotaUsage, Error> {
        let namespace = namespace.to_owned();
        let (limit, used) = self.meta.read_latest(move |r| Ok((r.namespace_quota(&namespace)?, r.namespace_usage(&namespace)?))).await?;
        Ok(QuotaUsage { limit, used })
    }

    /// Sets (or with `None` removes) a namespace's quota (the caller has checked who may).
    /// Usage already past a new quota stays; further pushes that add bytes are refused.
    pub async fn set_quota(&self, namespace: &str, limit: Option<u64>) -> Result<QuotaUsage, Error> {
        let setting = Setting::NamespaceQuota { namespace: namespace.to_owned(), bytes: limit };
        match self.meta.apply(Command::PutSetting(PutSetting { setting, only_if_absent: false })).await? {
            Applied::Done => self.quota(namespace).await,
            Applied::Rejected(berth_meta::Rejection::NamespaceUnknown) => Err(Error::NamespaceUnknown(namespace.to_owned())),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }
}
