//! Manifest parsing and shape checks, and the list of everything a manifest points at.
//!
//! The bytes are kept exactly as pushed (the digest is over them); this module reads only
//! the fields the registry needs. It is lenient where the specs are (unknown fields, any
//! layer or config media type, artifacts) and strict where a wrong manifest would break a
//! client (descriptor shape, digests, sizes, media type agreement).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::media_type::{self, ManifestKind};

/// A content descriptor as it appears in manifests and in the referrers index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the content described.
    pub media_type: String,
    /// Digest of the content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// The artifact type, for manifests listed by the referrers API.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    /// Annotations, carried over unchanged.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub annotations: Option<Map<String, Value>>,
    /// Foreign layers name URLs to fetch from instead of the registry.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub urls: Option<Vec<String>>,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not a JSON object.
    #[error("manifest is not a JSON object: {0}")]
    NotJson(String),
    /// The media type is not one the registry accepts.
    #[error("manifest media type {0:?} is not supported")]
    UnsupportedMediaType(String),
    /// The body's `mediaType` disagrees with the `Content-Type` it was pushed with.
    #[error("manifest mediaType {body:?} does not match Content-Type {header:?}")]
    MediaTypeMismatch {
        /// The `Content-Type` header.
        header: String,
        /// The body's `mediaType`.
        body: String,
    },
    /// A required field is missing or has the wrong shape.
    #[error("manifest field {field}: {problem}")]
    InvalidField {
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// A parsed manifest: what the registry must know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Image (config and layers) or index (child manifests).
    pub kind: ManifestKind,
    /// The effective media type.
    pub media_type: String,
    /// `artifactType`, or for an image manifest without one, its config's media type
    /// (the value the referrers API reports).
    pub artifact_type: Option<String>,
    /// Top-level annotations.
    pub annotations: Option<Map<String, Value>>,
    /// Blobs that must exist in the repository: config and layers (foreign layers excepted).
    pub blobs: Vec<Digest>,
    /// Manifests that must exist in the repository: an index's children.
    pub children: Vec<Digest>,
    /// The manifest this one refers to (signatures, SBOMs, …); it need not exist.
    pub subject: Option<Descriptor>,
}

fn field_error(field: impl Into<String>, problem: impl Into<String>) -> ManifestError {
    ManifestError::InvalidField { field: field.into(), problem: problem.into() }
}

fn descriptor(value: &Value, field: &str) -> Result<Descriptor, ManifestError> {
    let descriptor: Descriptor = serde_json::from_value(value.clone()).map_err(|e| field_error(field, e.to_string()))?;
    Ok(descriptor)
}

fn descriptors(object: &Map<String, Value>, field: &str, required: bool) -> Result<Vec<Descriptor>, ManifestError> {
    match object.get(field) {
        None | Some(Value::Null) if !required => Ok(Vec::new()),
        None | Some(Value::Null) => Err(field_error(field, "is required")),
        Some(Value::Array(items)) => items.iter().enumerate().map(|(i, item)| descriptor(item, &format!("{field}[{i}]"))).collect(),
        Some(_) => Err(field_error(field, "must be an array")),
    }
}

fn optional_string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, ManifestError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_error(field, "must be a string")),
    }
}

/// Treats a `Content-Type` that names no manifest type (absent, `application/json`, …) as absent.
fn declared_type(content_type: Option<&str>) -> Option<String> {
    let essence = content_type?.split(';').next()?.trim();
    match essence {
        "" | "application/json" | "application/octet-stream" | "text/plain" => None,
        other => Some(other.to_owned()),
    }
}

impl Manifest {
    /// Parses and shape-checks `bytes` pushed with `content_type`.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(ManifestError::NotJson("the top level is not an object".into()));
        };
        let body_type = optional_string(&object, "mediaType")?;
        let header_type = declared_type(content_type);
        let media_type = match (header_type, body_type) {
            (Some(header), Some(body)) if header != body => {
                return Err(ManifestError::MediaTypeMismatch { header, body });
            }
            (Some(t), _) | (None, Some(t)) => t,
            // No type anywhere: OCI allows this; infer from the shape.
            (None, None) if object.contains_key("manifests") => media_type::OCI_INDEX.to_owned(),
            (None, None) => media_type::OCI_MANIFEST.to_owned(),
        };
        let kind = media_type::manifest_kind(&media_type).ok_or_else(|| ManifestError::UnsupportedMediaType(media_type.clone()))?;
        if let Some(version) = object.get("schemaVersion") {
            if version.as_u64() != Some(2) {
                return Err(field_error("schemaVersion", "must be 2"));
            }
        } else if media_type.starts_with("application/vnd.docker") {
            return Err(field_error("schemaVersion", "is required"));
        }
        let subject = object.get("subject").filter(|v| !v.is_null()).map(|v| descriptor(v, "subject")).transpose()?;
        let annotations = match object.get("annotations") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => return Err(field_error("annotations", "must be an object")),
        };
        // An empty artifactType counts as none (the spec then falls back to the config's type).
        let declared_artifact_type = optional_string(&object, "artifactType")?.filter(|s| !s.is_empty());
        let (blobs, children, artifact_type) = match kind {
            ManifestKind::Image => {
                let config = object.get("config").ok_or_else(|| field_error("config", "is required"))?;
                let config = descriptor(config, "config")?;
                let layers = descriptors(&object, "layers", media_type != media_type::OCI_MANIFEST)?;
                let mut blobs = vec![config.digest.clone()];
                // Foreign layers (with URLs) live outside the registry and need not be pushed.
                blobs.extend(layers.into_iter().filter(|l| l.urls.as_ref().is_none_or(Vec::is_empty)).map(|l| l.digest));
                let artifact_type = declared_artifact_type.or(Some(config.media_type));
                (blobs, Vec::new(), artifact_type)
            }
            ManifestKind::Index => {
                let manifests = descriptors(&object, "manifests", true)?;
                (Vec::new(), manifests.into_iter().map(|m| m.digest).collect(), declared_artifact_type)
            }
        };
        Ok(Manifest { kind, media_type, artifact_type, annotations, blobs, children, subject })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn image(media_type: &str, extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{A}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{B}","size":10}}]{extra}}}"#
        )
    }

    #[test]
    fn image_manifest_lists_config_and_layers() {
        let m = Manifest::parse(image(media_type::OCI_MANIFEST, "").as_bytes(), Some(media_type::OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.blobs, vec![A.parse().unwrap(), B.parse().unwrap()]);
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        assert!(m.subject.is_none());
    }

    #[test]
    fn artifact_with_subject() {
        let extra = format!(
            r#","artifactType":"application/vnd.example.sig","subject":{{"mediaType":"{}","digest":"{C}","size":5}},"annotations":{{"k":"v"}}"#,
            media_type::OCI_MANIFEST
        );
        let m = Manifest::parse(image(media_type::OCI_MANIFEST, &extra).as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.example.sig"));
        assert_eq!(m.subject.unwrap().digest.as_str(), C);
        assert_eq!(m.annotations.unwrap()["k"], "v");
    }

    #[test]
    fn empty_artifact_type_falls_back_to_the_config_type() {
        let m = Manifest::parse(image(media_type::OCI_MANIFEST, r#","artifactType":"""#).as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
    }

    #[test]
    fn index_lists_children() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{A}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            media_type::DOCKER_MANIFEST_LIST,
            media_type::DOCKER_MANIFEST
        );
        let m = Manifest::parse(body.as_bytes(), Some(media_type::DOCKER_MANIFEST_LIST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.children, vec![A.parse().unwrap()]);
        assert!(m.blobs.is_empty());
    }

    #[test]
    fn foreign_layers_are_not_required() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"x","digest":"{A}","size":2}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{B}","size":10,"urls":["https://example.invalid/l"]}}]}}"#,
            media_type::DOCKER_MANIFEST
        );
        let m = Manifest::parse(body.as_bytes(), None).unwrap();
        assert_eq!(m.blobs, vec![A.parse().unwrap()]);
    }

    #[test]
    fn refusals() {
        let oci = Some(media_type::OCI_MANIFEST);
        assert!(matches!(Manifest::parse(b"not json", oci), Err(ManifestError::NotJson(_))));
        assert!(matches!(Manifest::parse(b"[1]", oci), Err(ManifestError::NotJson(_))));
        assert!(matches!(
            Manifest::parse(image(media_type::OCI_MANIFEST, "").as_bytes(), Some(media_type::DOCKER_MANIFEST)),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        assert!(matches!(
            Manifest::parse(b"{\"schemaVersion\":1}", Some("application/vnd.docker.distribution.manifest.v1+prettyjws")),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        let no_config = format!(r#"{{"schemaVersion":2,"mediaType":"{}","layers":[]}}"#, media_type::OCI_MANIFEST);
        assert!(matches!(Manifest::parse(no_config.as_bytes(), oci), Err(ManifestError::InvalidField { .. })));
        let bad_digest = image(media_type::OCI_MANIFEST, "").replace(A, "sha256:nothex");
        assert!(matches!(Manifest::parse(bad_digest.as_bytes(), oci), Err(ManifestError::InvalidField { .. })));
        let negative = image(media_type::OCI_MANIFEST, "").replace("\"size\":2", "\"size\":-2");
        assert!(matches!(Manifest::parse(negative.as_bytes(), oci), Err(ManifestError::InvalidField { .. })));
        let schema3 = image(media_type::OCI_MANIFEST, "").replace("\"schemaVersion\":2", "\"schemaVersion\":3");
        assert!(matches!(Manifest::parse(schema3.as_bytes(), oci), Err(ManifestError::InvalidField { .. })));
    }

    fn arb_digest() -> impl Strategy<Value = String> {
        "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), ct in proptest::option::of("\\PC{0,40}")) {
            let _ = Manifest::parse(&bytes, ct.as_deref());
        }

        #[test]
        fn references_are_config_then_layers(config in arb_digest(), layers in proptest::collection::vec(arb_digest(), 0..8)) {
            let layer_json: Vec<String> = layers.iter().map(|d| format!(r#"{{"mediaType":"l","digest":"{d}","size":1}}"#)).collect();
            let body = format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{config}","size":1}},"layers":[{}]}}"#, layer_json.join(","));
            let m = Manifest::parse(body.as_bytes(), Some(media_type::OCI_MANIFEST)).unwrap();
            let mut expected = vec![config];
            expected.extend(layers);
            prop_assert_eq!(m.blobs.iter().map(|d| d.to_string()).collect::<Vec<_>>(), expected);
        }

        #[test]
        fn index_references_are_children(children in proptest::collection::vec(arb_digest(), 0..8)) {
            let items: Vec<String> = children.iter().map(|d| format!(r#"{{"mediaType":"{}","digest":"{d}","size":1}}"#, media_type::OCI_MANIFEST)).collect();
            let body = format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, items.join(","));
            let m = Manifest::parse(body.as_bytes(), None).unwrap();
            prop_assert_eq!(m.kind, ManifestKind::Index);
            prop_assert_eq!(m.children.iter().map(|d| d.to_string()).collect::<Vec<_>>(), children);
        }
    }
}
