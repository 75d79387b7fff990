//! "Signed pulls only": with the policy on (for the repository, or for its whole
//! namespace), a pull by tag answers only when the tag is signed with that very digest in
//! the repository's trust data, or when the manifest has a cosign or notation signature
//! that verifies with one of the configured keys (the repository's and the namespace's).
//! Pulls by digest are not affected: a trusted pull resolves the tag in the trust data
//! itself, then pulls by digest. A policy that cannot be read enforces signed pulls.

use berth_core::{Digest, RepositoryName, Tag};
use berth_meta::command::PutSetting;
use berth_meta::{Applied, Command, Setting, SigningPolicy};
use futures_util::StreamExt;

use crate::signatures::{cosign, notation};
use crate::{Error, Registry, unexpected};

/// The largest signature payload read (a cosign payload or a JWS envelope is a few KiB).
const MAX_PAYLOAD: u64 = 64 << 10;

/// Checks that every key is a PEM public key.
fn check_keys(keys: &[String]) -> Result<(), Error> {
    if keys.iter().any(|k| cosign::public_key_der(k).is_none()) {
        return Err(Error::Invalid("signatureKeys: each key is a PEM public key (-----BEGIN PUBLIC KEY-----)".into()));
    }
    Ok(())
}

impl Registry {
    /// A namespace's signing policy.
    pub async fn namespace_policy(&self, namespace: &str) -> Result<SigningPolicy, Error> {
        let namespace = namespace.to_owned();
        Ok(self.meta.read_latest(move |r| r.namespace_policy(&namespace)).await?)
    }

    /// Sets a namespace's signing policy (the caller has checked who may).
    pub async fn set_namespace_policy(&self, namespace: &str, policy: SigningPolicy) -> Result<SigningPolicy, Error> {
        check_keys(&policy.signature_keys)?;
        let setting = Setting::NamespacePolicy { namespace: namespace.to_owned(), policy };
        match self.meta.apply(Command::PutSetting(PutSetting { setting, only_if_absent: false })).await? {
            Applied::Done => self.namespace_policy(namespace).await,
            Applied::Rejected(berth_meta::Rejection::NamespaceUnknown) => Err(Error::NamespaceUnknown(namespace.to_owned())),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Refuses a pull of `tag` (pointing at `digest`) that the policy does not allow.
    pub(crate) async fn check_signed_pull(&self, repository: &RepositoryName, tag: &Tag, digest: &Digest) -> Result<(), Error> {
        let (repo, namespace, tag_name) = (repository.to_string(), repository.namespace().to_owned(), tag.to_string());
        let (enforced, keys, signed) = self
            .meta
            .read_latest(move |r| {
                let record = r.repository(&repo)?;
                let namespace = r.namespace_policy(&namespace)?;
                let enforced = namespace.signed_pulls_only || record.as_ref().is_some_and(|r| r.signed_pulls_only);
                let mut keys = record.map(|r| r.signature_keys).unwrap_or_default();
                keys.extend(namespace.signature_keys);
                let signed = r.signed_tags(&repo)?.into_iter().find(|(t, _)| *t == tag_name).map(|(_, target)| target.digest);
                Ok((enforced, keys, signed))
            })
            .await?;
        if !enforced {
            return Ok(());
        }
        match signed {
            Some(signed) if signed == digest.as_str() => return Ok(()),
            _ if !keys.is_empty() && self.oci_signed(repository, digest, &keys).await? => return Ok(()),
            _ => {}
        }
        Err(Error::Unsigned(match signed {
            Some(_) => format!(
                "policy \"signed pulls only\" of {repository}: tag {tag} points at {digest}, which is not the digest signed in the repository's trust data"
            ),
            None => format!(
                "policy \"signed pulls only\" of {repository}: tag {tag} is not signed in the repository's trust data, nor by a cosign or notation signature from a configured key"
            ),
        }))
    }

    /// Whether an OCI signature of `digest` by one of `keys` is in the repository: a cosign
    /// signature (an OCI 1.1 referrer of cosign's artifact type, or the classic
    /// `sha256-<hex>.sig` tag) or a notation signature (a referrer holding a JWS envelope).
    async fn oci_signed(&self, repository: &RepositoryName, digest: &Digest, keys: &[String]) -> Result<bool, Error> {
        let (repo, subject) = (repository.to_string(), digest.to_string());
        let manifests = self
            .meta
            .read_latest(move |r| {
                let mut candidates: Vec<String> = Vec::new();
                for kind in [cosign::ARTIFACT_TYPE, notation::ARTIFACT_TYPE] {
                    candidates.extend(r.referrers(&repo, &subject, Some(kind))?.into_iter().map(|d| d.digest.to_string()));
                }
                if let Some(tagged) = r.tag(&repo, &format!("{}.sig", subject.replacen(':', "-", 1)))? {
                    candidates.push(tagged.to_string());
                }
                let mut out = Vec::new();
                for candidate in candidates {
                    if let Some(content) = r.manifest_content(&candidate)? {
                        out.push(content);
                    }
                }
                Ok(out)
            })
            .await?;
        for content in manifests {
            let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&content) else { continue };
            for layer in manifest["layers"].as_array().into_iter().flatten() {
                let Some(blob) = layer["digest"].as_str().and_then(|d| d.parse::<Digest>().ok()) else { continue };
                let verified = match layer["mediaType"].as_str() {
                    Some(cosign::SIMPLE_SIGNING) => {
                        let Some(signature) = layer["annotations"][cosign::SIGNATURE_ANNOTATION].as_str() else { continue };
                        let Some(payload) = self.small_blob(repository, &blob).await else { continue };
                        cosign::verify_simple_signing(&payload, signature, keys, digest.as_str())
                    }
                    Some(notation::JWS_ENVELOPE) => {
                        let Some(envelope) = self.small_blob(repository, &blob).await else { continue };
                        notation::verify_jws(&envelope, keys, digest.as_str())
                    }
                    _ => false,
                };
                if verified {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// A signature payload of at most [`MAX_PAYLOAD`] bytes, or `None`.
    async fn small_blob(&self, repository: &RepositoryName, digest: &Digest) -> Option<Vec<u8>> {
        let mut reader = self.open_blob(repository, digest, None).await.ok()?;
        if reader.size > MAX_PAYLOAD {
            return None;
        }
        let mut out = Vec::new();
        while let Some(chunk) = reader.stream.next().await {
            out.extend_from_slice(&chunk.ok()?);
        }
        Some(out)
    }

    /// Checks keys before they are stored in a repository's settings.
    pub(crate) fn check_signature_keys(keys: &[String]) -> Result<(), Error> {
        check_keys(keys)
    }
}
