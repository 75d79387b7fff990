//! Joining a cluster, the client's side: fetch the cluster CA from an existing replica,
//! check it against the fingerprint the join token pins (so a man in the middle cannot
//! pose as the cluster), then present the token and a public key over TLS that trusts
//! only that CA, and receive this replica's certificate and the cluster's secrets.

use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use berth_services::cluster::ca::{self, REPLICA_SERVER_NAME};
use berth_services::cluster::{JoinGrant, JoinRequest, JoinToken};

use super::host_and_port;

/// The path a replica's CA certificate is served at (to replica connections).
pub const CA_PATH: &str = "/internal/cluster/ca";
/// The path a joining replica presents its token at.
pub const JOIN_PATH: &str = "/internal/cluster/join";

async fn client(existing: &str, tls: Option<rustls::ClientConfig>) -> anyhow::Result<(reqwest::Client, String)> {
    let (host, port) = host_and_port(existing).with_context(|| format!("--existing {existing}: use https://host:port"))?;
    let socket = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to nothing"))?;
    let builder = reqwest::Client::builder().resolve(REPLICA_SERVER_NAME, socket).timeout(Duration::from_secs(60));
    let builder = match tls {
        Some(tls) => builder.use_preconfigured_tls(tls),
        // Only to read the CA certificate, which is then checked against the token.
        None => builder.tls_danger_accept_invalid_certs(true),
    };
    Ok((builder.build()?, format!("https://{REPLICA_SERVER_NAME}:{port}")))
}

/// Obtains this replica's certificate from the cluster `existing` belongs to; the grant
/// and the key the certificate is for (PEM).
pub async fn obtain_grant(existing: &str, token: &JoinToken, replica: &str, address: &str) -> anyhow::Result<(JoinGrant, String)> {
    let (insecure, base) = client(existing, None).await?;
    let response = insecure.get(format!("{base}{CA_PATH}")).send().await.with_context(|| format!("reaching {existing}"))?;
    if !response.status().is_success() {
        bail!("{existing} did not give its cluster CA ({}): is it a Berth replica?", response.status());
    }
    let ca_pem = response.text().await?;
    if ca::fingerprint(&ca_pem)? != token.ca_fingerprint {
        bail!("{existing} presented a cluster CA the join token does not name: refusing to join (wrong address, or someone in between)");
    }
    let (pinned, base) = client(existing, Some(crate::tls::pinned_client_config(&ca_pem)?)).await?;
    let (key, public) = ca::replica_key()?;
    let request = JoinRequest {
        token_id: token.id.clone(),
        secret: token.secret.clone(),
        replica: replica.to_owned(),
        address: address.to_owned(),
        public_key: base64::engine::general_purpose::STANDARD.encode(public),
    };
    let response =
        pinned.post(format!("{base}{JOIN_PATH}")).json(&request).send().await.with_context(|| format!("joining through {existing}"))?;
    let status = response.status();
    if !status.is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body.pointer("/errors/0/message").and_then(|m| m.as_str()).unwrap_or("no reason given");
        bail!("{existing} refused the join ({status}): {message}");
    }
    let grant: JoinGrant = response.json().await.context("reading the join grant")?;
    if grant.ca != ca_pem {
        bail!("the join grant names another CA than {existing} presented");
    }
    Ok((grant, key))
}
