//! Replica messages over HTTPS with mutual TLS, on the registry's own port: a POST to
//! `/internal/raft/<message>` with the cluster's id in a header. Connections name the
//! replica server name (SNI), trust only the cluster CA and present this replica's
//! certificate; one HTTP/2 client per replica address is kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_services::cluster::ca::REPLICA_SERVER_NAME;
use berth_services::cluster::{Endpoint, Reply, Transport, TransportError};

use super::{CLUSTER_HEADER, RAFT_PATH, host_and_port};

/// The transport. Its identity is set once this replica has its certificate.
pub struct HttpsTransport {
    source: Option<std::net::IpAddr>,
    tls: Mutex<Option<rustls::ClientConfig>>,
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

impl HttpsTransport {
    /// A transport with no identity yet, whose connections leave from `source` when given.
    pub fn new(source: Option<std::net::IpAddr>) -> Arc<HttpsTransport> {
        Arc::new(HttpsTransport { source, tls: Mutex::new(None), clients: Mutex::default() })
    }

    /// Uses `tls` (see `tls::replica_client_config`) for every connection from now on.
    pub fn set_identity(&self, tls: rustls::ClientConfig) {
        *self.tls.lock().unwrap_or_else(|p| p.into_inner()) = Some(tls);
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The client for the replica at `address`, and the URL base to use with it.
    async fn client(&self, address: &str) -> Result<(reqwest::Client, String), TransportError> {
        let not_sent = |message: String| TransportError { sent: false, message };
        let (host, port) = host_and_port(address).ok_or_else(|| not_sent(format!("{address} is not https://host:port")))?;
        if let Some(client) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).get(address) {
            return Ok((client.clone(), format!("https://{REPLICA_SERVER_NAME}:{port}")));
        }
        let tls =
            self.tls.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(|| not_sent("no replica certificate yet".into()))?;
        let socket = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| not_sent(format!("resolving {host}: {e}")))?
            .next()
            .ok_or_else(|| not_sent(format!("{host} resolves to nothing")))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .resolve(REPLICA_SERVER_NAME, socket)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .local_address(self.source)
            .build()
            .map_err(|e| not_sent(e.to_string()))?;
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).insert(address.to_owned(), client.clone());
        Ok((client, format!("https://{REPLICA_SERVER_NAME}:{port}")))
    }
}

impl Transport for HttpsTransport {
    fn send<'a>(&'a self, address: &'a str, cluster: &'a str, endpoint: Endpoint, body: Vec<u8>, timeout: Duration) -> Reply<'a> {
        Box::pin(async move {
            let (client, base) = self.client(address).await?;
            let url = format!("{base}{RAFT_PATH}/{}", endpoint.name());
            let response = client
                .post(url)
                .header(CLUSTER_HEADER, cluster)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .timeout(timeout)
                .body(body)
                .send()
                .await
                .map_err(|e| TransportError { sent: !e.is_connect(), message: format!("{address}: {e}") })?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| TransportError { sent: true, message: format!("{address}: {e}") })?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned();
                return Err(TransportError { sent: true, message: format!("{address} answered {status}: {text}") });
            }
            Ok(bytes.to_vec())
        })
    }
}
