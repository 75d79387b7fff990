//! A namespace's signing policy: with `signedPullsOnly`, every repository of the
//! namespace answers pulls by tag only for tags signed in its trust data, or by a cosign
//! or notation signature from one of `signatureKeys` (as the repository settings of the
//! same names do for one repository; the keys of both count). Kept as the setting
//! `signed_pulls_only/<namespace>` (a bare boolean in its first form).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use berth_meta::Command;
use berth_meta::command::PutSetting;
use serde::{Deserialize, Serialize};

use super::{ApiV0Error, Caller, apply};
use crate::app::AppState;

/// The setting's name for `namespace`.
pub fn setting_name(namespace: &str) -> String {
    format!("signed_pulls_only/{namespace}")
}

/// `{"signedPullsOnly": bool, "signatureKeys": [PEM public keys]}`.
#[derive(Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningPolicy {
    /// Pulls by tag must be signed.
    pub signed_pulls_only: bool,
    /// Public keys whose cosign or notation signatures count, for every repository.
    #[serde(default)]
    pub signature_keys: Vec<String>,
}

impl SigningPolicy {
    /// The policy from its stored setting (either form).
    pub fn from_setting(value: Option<serde_json::Value>) -> SigningPolicy {
        match value {
            Some(serde_json::Value::Bool(on)) => SigningPolicy { signed_pulls_only: on, signature_keys: Vec::new() },
            Some(value) => serde_json::from_value(value).unwrap_or_default(),
            None => SigningPolicy::default(),
        }
    }
}

async fn read(app: &AppState, namespace: &str) -> Result<SigningPolicy, ApiV0Error> {
    let name = setting_name(namespace);
    let value = app.registry.meta().read(move |r| r.setting(&name)).await.map_err(|e| ApiV0Error::internal(&e))?;
    Ok(SigningPolicy::from_setting(value))
}

#[utoipa::path(get, path = "/api/v0/repositoryNamespaces/{ns}/signingPolicy", tag = "trust", params(("ns" = String, Path, description = "namespace")), responses((status = 200, description = "the namespace's signing policy", body = SigningPolicy), (status = 401, description = "NOT_AUTHENTICATED")))]
/// Reads a namespace's signing policy.
pub async fn get(State(app): State<AppState>, _caller: Caller, Path(ns): Path<String>) -> Result<Response, ApiV0Error> {
    Ok(Json(read(&app, &ns).await?).into_response())
}

#[utoipa::path(put, path = "/api/v0/repositoryNamespaces/{ns}/signingPolicy", tag = "trust", params(("ns" = String, Path, description = "namespace")), request_body = SigningPolicy, responses((status = 200, description = "the namespace's signing policy", body = SigningPolicy), (status = 401, description = "NOT_AUTHENTICATED"), (status = 403, description = "NOT_AUTHORIZED")))]
/// Sets a namespace's signing policy (system admins, org owners, a user for their own namespace).
pub async fn put(State(app): State<AppState>, caller: Caller, Path(ns): Path<String>, Json(policy): Json<SigningPolicy>) -> Result<Response, ApiV0Error> {
    if !app.auth.owns_namespace(&caller.0, &ns) {
        return Err(ApiV0Error::forbidden());
    }
    if policy.signature_keys.iter().any(|k| berth_trust::cosign::public_key_der(k).is_none()) {
        return Err(ApiV0Error::invalid("signatureKeys: each key is a PEM public key (-----BEGIN PUBLIC KEY-----)"));
    }
    let value = serde_json::to_value(&policy).map_err(|e| ApiV0Error::internal(&e))?;
    let command = PutSetting { name: setting_name(&ns), value, only_if_absent: false };
    apply(&app, Command::PutSetting(command)).await?;
    Ok(Json(read(&app, &ns).await?).into_response())
}
