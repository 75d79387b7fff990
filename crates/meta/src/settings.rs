//! Registry-wide settings, each with its name (its key in the `settings` table) and its
//! value type, in this one module. A stored value that cannot be decoded fails closed:
//! it reads as the setting's most protective value (anonymous pulls off, signed pulls
//! on), and says so in the log.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::query::Reader;
use crate::records::LdapSyncReport;
use crate::tables::SETTINGS;

/// The name of the token-signing key setting.
const TOKEN_SIGNING_KEY: &str = "token_signing_key";
/// The name of the anonymous-pulls setting.
const ANONYMOUS_PULLS: &str = "anonymous_pulls";
/// The name of the last LDAP sync's report.
const LDAP_LAST_SYNC: &str = "ldap_last_sync";
/// The name of the cluster's certificate authority.
const CLUSTER_CA: &str = "cluster_ca";
/// The prefix of a namespace's signing policy (`signed_pulls_only/<namespace>`).
const NAMESPACE_POLICY: &str = "signed_pulls_only/";
/// The prefix of a namespace's storage quota (`quota/<namespace>`), bytes.
const NAMESPACE_QUOTA: &str = "quota/";

/// Which pulls a namespace (or a repository) answers: with `signed_pulls_only`, a pull
/// by tag answers only for a tag signed in the trust data with that digest, or signed by
/// a cosign or notation signature from one of `signature_keys` (PEM public keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningPolicy {
    /// Pulls by tag must be signed.
    pub signed_pulls_only: bool,
    /// Public keys whose cosign or notation signatures count.
    #[serde(default)]
    pub signature_keys: Vec<String>,
}

/// A setting with its value, as [`crate::command::PutSetting`] sets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Setting {
    /// The token-signing key (PKCS#8), sealed with the master key.
    TokenSigningKey(String),
    /// Whether anonymous callers may pull public repositories (default: yes).
    AnonymousPulls(bool),
    /// The report of the last LDAP sync.
    LdapLastSync(LdapSyncReport),
    /// The certificate authority replicas prove who they are with: its certificate (PEM)
    /// and its key (PKCS#8 PEM), sealed with the master key.
    ClusterCa {
        /// The CA certificate.
        certificate: String,
        /// The sealed key.
        sealed_key: String,
    },
    /// A namespace's signing policy.
    NamespacePolicy {
        /// The namespace.
        namespace: String,
        /// Its policy.
        policy: SigningPolicy,
    },
    /// A namespace's storage quota: the most bytes of distinct blobs its manifests may
    /// use (`None`: no quota).
    NamespaceQuota {
        /// The namespace.
        namespace: String,
        /// The limit in bytes.
        bytes: Option<u64>,
    },
}

impl Setting {
    /// Its key in the `settings` table.
    /// The names of every setting of a namespace (its signing policy and quota).
    pub(crate) fn namespace_settings(namespace: &str) -> [String; 2] {
        [format!("{NAMESPACE_POLICY}{namespace}"), format!("{NAMESPACE_QUOTA}{namespace}")]
    }

    pub(crate) fn name(&self) -> String {
        match self {
            Setting::TokenSigningKey(_) => TOKEN_SIGNING_KEY.into(),
            Setting::AnonymousPulls(_) => ANONYMOUS_PULLS.into(),
            Setting::LdapLastSync(_) => LDAP_LAST_SYNC.into(),
            Setting::ClusterCa { .. } => CLUSTER_CA.into(),
            Setting::NamespacePolicy { namespace, .. } => format!("{NAMESPACE_POLICY}{namespace}"),
            Setting::NamespaceQuota { namespace, .. } => format!("{NAMESPACE_QUOTA}{namespace}"),
        }
    }

    /// Its stored value.
    pub(crate) fn value(&self) -> Vec<u8> {
        let value = match self {
            Setting::TokenSigningKey(sealed) => serde_json::json!(sealed),
            Setting::AnonymousPulls(on) => serde_json::json!(on),
            Setting::LdapLastSync(report) => serde_json::to_value(report).unwrap_or_default(),
            Setting::ClusterCa { certificate, sealed_key } => serde_json::json!({"certificate": certificate, "sealed_key": sealed_key}),
            Setting::NamespacePolicy { policy, .. } => serde_json::to_value(policy).unwrap_or_default(),
            Setting::NamespaceQuota { bytes, .. } => serde_json::json!(bytes),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

impl Reader {
    fn setting<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<Result<T, serde_json::Error>>, Error> {
        let table = self.tx.open_table(SETTINGS)?;
        let value = table.get(name)?;
        Ok(value.map(|v| serde_json::from_slice::<T>(v.value())))
    }

    /// The sealed token-signing key, if one was made.
    pub fn token_signing_key(&self) -> Result<Option<String>, Error> {
        self.setting::<String>(TOKEN_SIGNING_KEY)?
            .transpose()
            .map_err(|e| Error::Corrupt { table: "settings", detail: format!("{TOKEN_SIGNING_KEY}: {e}") })
    }

    /// The cluster's CA: its certificate (PEM) and sealed key, once made.
    pub fn cluster_ca(&self) -> Result<Option<(String, String)>, Error> {
        #[derive(Deserialize)]
        struct Ca {
            certificate: String,
            sealed_key: String,
        }
        let ca = self
            .setting::<Ca>(CLUSTER_CA)?
            .transpose()
            .map_err(|e| Error::Corrupt { table: "settings", detail: format!("{CLUSTER_CA}: {e}") })?;
        Ok(ca.map(|ca| (ca.certificate, ca.sealed_key)))
    }

    /// Whether anonymous callers may pull public repositories.
    pub fn anonymous_pulls(&self) -> Result<bool, Error> {
        Ok(match self.setting::<bool>(ANONYMOUS_PULLS)? {
            None => true,
            Some(Ok(on)) => on,
            Some(Err(e)) => {
                tracing::error!(error = %e, "the anonymous_pulls setting cannot be read; anonymous pulls are refused");
                false
            }
        })
    }

    /// The report of the last LDAP sync, if one ran (an unreadable one counts as none).
    pub fn ldap_last_sync(&self) -> Result<Option<LdapSyncReport>, Error> {
        Ok(self.setting::<LdapSyncReport>(LDAP_LAST_SYNC)?.and_then(Result::ok))
    }

    /// A namespace's signing policy. Stored as a bare boolean by its first version; one
    /// that cannot be read enforces signed pulls.
    pub fn namespace_policy(&self, namespace: &str) -> Result<SigningPolicy, Error> {
        let name = format!("{NAMESPACE_POLICY}{namespace}");
        Ok(match self.setting::<serde_json::Value>(&name)? {
            None => SigningPolicy::default(),
            Some(Ok(serde_json::Value::Bool(on))) => SigningPolicy { signed_pulls_only: on, signature_keys: Vec::new() },
            Some(Ok(value)) => serde_json::from_value(value).unwrap_or_else(|e| {
                tracing::error!(namespace, error = %e, "a namespace's signing policy cannot be read; signed pulls are enforced");
                SigningPolicy { signed_pulls_only: true, signature_keys: Vec::new() }
            }),
            Some(Err(e)) => {
                tracing::error!(namespace, error = %e, "a namespace's signing policy cannot be read; signed pulls are enforced");
                SigningPolicy { signed_pulls_only: true, signature_keys: Vec::new() }
            }
        })
    }

    /// A namespace's storage quota in bytes, if it has one (one that cannot be read
    /// counts as none, and says so in the log).
    pub fn namespace_quota(&self, namespace: &str) -> Result<Option<u64>, Error> {
        Ok(match self.setting::<Option<u64>>(&format!("{NAMESPACE_QUOTA}{namespace}"))? {
            None => None,
            Some(Ok(bytes)) => bytes,
            Some(Err(e)) => {
                tracing::error!(namespace, error = %e, "a namespace's quota cannot be read; it is not enforced");
                None
            }
        })
    }
}
