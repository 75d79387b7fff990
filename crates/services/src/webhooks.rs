//! Webhooks: subscriptions kept in the metadata, deliveries queued by the audit log as
//! events are applied (see `berth_meta::audit`), and the worker that posts them.
//!
//! The worker runs on the leader only, so each delivery is posted once per cluster (at
//! least once: a leader that dies between posting and recording the attempt leaves it to
//! its successor; receivers tell repeats by the `X-Berth-Delivery` id). A delivery that
//! fails is tried again after 1, 2, 4, … times the base delay, for a bounded time; a hook
//! whose deliveries keep failing is paused, and says why, until someone resumes it.
//!
//! Who may manage a webhook is the policy's (`berth_auth`): every method that reads or
//! changes one takes the caller, and a webhook the caller may not manage answers as
//! absent.
//!
//! Every body is signed: `X-Berth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" under the hook's secret>`. The timestamp is inside the signed text, so a
//! receiver that refuses old timestamps refuses replays.
//!
//! Endpoints are reached through a resolver that refuses loopback, link-local (cloud
//! metadata services live there), unspecified and multicast addresses unless the
//! registry is configured to allow them, whatever name the endpoint uses; redirects are
//! not followed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use berth_auth::{Auth, Subject};
pub use berth_meta::audit::rfc3339;
use berth_meta::command::{Attempt, CreateWebhook, DeleteWebhook, RecordDeliveries, Redeliver, UpdateWebhook};
use berth_meta::seal::MasterKey;
use berth_meta::{Applied, Command, Meta, Rejection, now, now_millis};

use crate::outbound::{CheckedResolver, describe, literal_blocked};
pub use berth_meta::{Delivery, DeliveryState, Webhook};

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The request is malformed; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not manage webhooks of that repository or namespace.
    #[error("only administrators of {0} manage its webhooks")]
    Forbidden(String),
    /// No such webhook (or none the caller manages).
    #[error("no such webhook")]
    Unknown,
    /// The webhook has no such delivery.
    #[error("the webhook has no such delivery")]
    DeliveryUnknown,
    /// The cluster cannot take the change now (no quorum); nothing was lost.
    #[error("{0}")]
    Unavailable(String),
    /// Metadata failed; the detail is for the log.
    #[error("metadata failure: {0}")]
    Meta(berth_meta::Error),
    /// The access check failed.
    #[error(transparent)]
    Auth(#[from] berth_auth::Error),
}

impl From<berth_meta::Error> for WebhookError {
    fn from(e: berth_meta::Error) -> Self {
        e.unavailable().map_or_else(WebhookError::Meta, WebhookError::Unavailable)
    }
}

use WebhookError as Error;

fn unexpected(rejection: Rejection) -> Error {
    Error::Meta(berth_meta::Error::Task(format!("the change was refused unexpectedly: {rejection:?}")))
}

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Endpoints may be loopback or link-local addresses (tests, a receiver on the same host).
    pub allow_local: bool,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The delay before the first retry; each next one doubles, up to [`MAX_DELAY`].
    pub retry_base: Duration,
    /// How long after its event a delivery is still retried.
    pub retry_for: Duration,
    /// Failed deliveries in a row that pause a hook.
    pub pause_after: u32,
    /// `host[:port]` clients reach the registry by, put in front of payloads' image names.
    pub registry_host: Option<String>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            allow_local: false,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(2),
            retry_for: Duration::from_secs(3600),
            pause_after: 5,
            registry_host: None,
        }
    }
}

/// The longest delay between two attempts.
pub const MAX_DELAY: Duration = crate::outbound::MAX_DELAY;
/// Deliveries posted at once.
const PARALLEL: usize = 16;
/// The most attempts recorded by one command.
const RECORD_BATCH: usize = 256;
/// An attempt waiting to be recorded, and whom to tell once it is.
type Recorded = (Attempt, tokio::sync::oneshot::Sender<()>);
/// How often the worker looks for due deliveries.
const POLL: Duration = Duration::from_millis(200);
/// The most of an endpoint's answer kept in the log.
const ERROR_CHARS: usize = 300;

/// A new webhook.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// The event type (`TAG_PUSH`, …).
    pub kind: String,
    /// `namespace/repository` or `namespace`.
    pub key: String,
    /// Where to post.
    pub endpoint: String,
    /// PEM certificates the endpoint's must chain to, instead of the system's.
    pub tls_cert: Option<String>,
    /// The signing secret; one is made when none is given.
    pub secret: Option<String>,
}

/// What one attempt gave (a test's answer).
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The endpoint's status, if it answered.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration: Duration,
}

/// The webhooks service.
pub struct Webhooks {
    meta: Meta,
    /// The policy: who manages which webhooks.
    auth: Arc<Auth>,
    master: Arc<MasterKey>,
    options: WebhookOptions,
    /// Deliveries being posted now (the worker never posts one twice at once).
    in_flight: Mutex<HashSet<u64>>,
    /// One client per hook (its CA and connection pool), rebuilt when the hook changes.
    clients: Mutex<HashMap<String, (String, reqwest::Client)>>,
}

fn purpose(id: &str) -> String {
    format!("webhook-secret/{id}")
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system's random source failing leaves no safe way on; it never does in practice.
    let _ = aws_lc_rs::rand::fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of `X-Berth-Signature` for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

impl Webhooks {
    /// The service over the metadata; secrets are sealed with `master`.
    pub fn new(meta: Meta, auth: Arc<Auth>, master: Arc<MasterKey>, options: WebhookOptions) -> Webhooks {
        Webhooks { meta, auth, master, options, in_flight: Mutex::new(HashSet::new()), clients: Mutex::new(HashMap::new()) }
    }

    /// Creates a webhook for `by`, an administrator of its key; its id and secret.
    pub async fn create(&self, by: &Subject, new: NewWebhook) -> Result<(String, Webhook, String), Error> {
        let key_fine = match new.key.split_once('/') {
            Some(_) => new.key.parse::<berth_core::RepositoryName>().is_ok(),
            None => berth_core::check_account_name(&new.key).is_ok(),
        };
        if !key_fine {
            return Err(Error::Invalid(format!("key {:?}: use namespace/repository or namespace", new.key)));
        }
        if !self.auth.manages_webhooks(by, &new.key).await? {
            return Err(Error::Forbidden(new.key));
        }
        if !berth_meta::audit::HOOK_TYPES.iter().any(|(t, _)| *t == new.kind) {
            let types: Vec<&str> = berth_meta::audit::HOOK_TYPES.iter().map(|(t, _)| *t).collect();
            return Err(Error::Invalid(format!("type {:?}: use one of {}", new.kind, types.join(", "))));
        }
        let url = reqwest::Url::parse(&new.endpoint).map_err(|e| Error::Invalid(format!("endpoint {:?}: {e}", new.endpoint)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Invalid(format!("endpoint {:?}: an http or https URL with a host", new.endpoint)));
        }
        if let Some(pem) = &new.tls_cert {
            match reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
                Ok(certs) if !certs.is_empty() => {}
                _ => return Err(Error::Invalid("tlsCert: not a PEM certificate".into())),
            }
        }
        let secret = match new.secret {
            Some(s) if s.len() < 16 || s.len() > 256 => return Err(Error::Invalid("secret: 16 to 256 characters".into())),
            Some(s) => s,
            None => random_hex(32),
        };
        let id = random_hex(16);
        let sealed_secret = self
            .master
            .seal(&purpose(&id), secret.as_bytes())
            .map_err(|e| Error::Meta(berth_meta::Error::Task(format!("sealing the secret: {e}"))))?;
        let hook = Webhook {
            kind: new.kind,
            key: new.key,
            endpoint: url.to_string(),
            tls_cert: new.tls_cert,
            sealed_secret,
            created_by: by.name().unwrap_or_default().to_owned(),
            created_at: now(),
            failures: 0,
            paused: None,
        };
        match self.meta.apply(Command::CreateWebhook(CreateWebhook { id: id.clone(), hook: hook.clone() })).await? {
            Applied::Done => Ok((id, hook, secret)),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// The webhooks `subject` manages.
    pub async fn list(&self, subject: &Subject) -> Result<Vec<(String, Webhook)>, Error> {
        let mut managed = Vec::new();
        for (id, hook) in self.meta.read(|r| r.webhooks()).await? {
            if self.auth.manages_webhooks(subject, &hook.key).await? {
                managed.push((id, hook));
            }
        }
        Ok(managed)
    }

    /// One webhook `subject` manages (one they do not is as absent as a missing one).
    pub async fn get(&self, subject: &Subject, id: &str) -> Result<Webhook, Error> {
        let hook = self.hook(id).await?;
        if !self.auth.manages_webhooks(subject, &hook.key).await? {
            return Err(Error::Unknown);
        }
        Ok(hook)
    }

    async fn hook(&self, id: &str) -> Result<Webhook, Error> {
        let id = id.to_owned();
        self.meta.read(move |r| r.webhook(&id)).await?.ok_or(Error::Unknown)
    }

    /// Deletes a webhook and its log.
    pub async fn delete(&self, subject: &Subject, id: &str) -> Result<(), Error> {
        self.get(subject, id).await?;
        self.expect_done(self.meta.apply(Command::DeleteWebhook(DeleteWebhook { id: id.to_owned() })).await?)
    }

    /// Pauses a webhook's deliveries (`paused`) or resumes them; the webhook after.
    pub async fn set_paused(&self, subject: &Subject, id: &str, paused: bool) -> Result<Webhook, Error> {
        self.get(subject, id).await?;
        let paused = paused.then(|| format!("paused by {}", subject.name().unwrap_or_default()));
        self.expect_done(self.meta.apply(Command::UpdateWebhook(UpdateWebhook { id: id.to_owned(), paused })).await?)?;
        self.hook(id).await
    }

    /// A webhook's deliveries, newest first.
    pub async fn deliveries(&self, subject: &Subject, id: &str, before: Option<u64>, limit: usize) -> Result<Vec<(u64, Delivery)>, Error> {
        self.get(subject, id).await?;
        let id = id.to_owned();
        Ok(self.meta.read(move |r| r.deliveries(&id, before, limit)).await?)
    }

    /// Queues a delivery of the webhook again.
    pub async fn redeliver(&self, subject: &Subject, id: &str, delivery: u64) -> Result<(), Error> {
        self.get(subject, id).await?;
        self.expect_done(self.meta.apply(Command::Redeliver(Redeliver { hook: id.to_owned(), delivery, at: now_millis() })).await?)
    }

    fn expect_done(&self, applied: Applied) -> Result<(), Error> {
        match applied {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::WebhookUnknown) => Err(Error::Unknown),
            Applied::Rejected(Rejection::DeliveryUnknown) => Err(Error::DeliveryUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Posts a test payload to the webhook now, and says what the endpoint answered
    /// (nothing is recorded).
    pub async fn test(&self, subject: &Subject, id: &str) -> Result<TestResult, Error> {
        let hook = self.get(subject, id).await?;
        let contents = serde_json::json!({"message": "a test delivery from Berth", "webhook": id, "key": hook.key});
        let payload = serde_json::json!({"type": "TEST", "createdAt": berth_meta::audit::rfc3339(now_millis()), "contents": contents});
        let started = Instant::now();
        let (status, error) = self.post(id, &hook, 0, payload.to_string()).await;
        Ok(TestResult { status, error, duration: started.elapsed() })
    }

    /// Posts due deliveries while this replica leads; never returns.
    pub async fn run(self: Arc<Self>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let (recorder, attempts) = tokio::sync::mpsc::channel(PARALLEL * 2);
        tokio::spawn(self.clone().record(attempts));
        loop {
            tokio::time::sleep(POLL).await;
            if !self.meta.is_leader() {
                continue;
            }
            let due = match self.meta.read(|r| r.due_deliveries(now_millis(), PARALLEL * 4)).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "reading due webhook deliveries");
                    continue;
                }
            };
            for (id, delivery, hook) in due {
                if !self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(id) {
                    continue;
                }
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let (this, recorder) = (self.clone(), recorder.clone());
                tokio::spawn(async move {
                    this.deliver(id, delivery, hook, &recorder).await;
                    this.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                    drop(slot);
                });
            }
        }
    }

    /// Posts one delivery and has the attempt recorded; returns once it is (so that the
    /// worker does not read the delivery as still due and post it again).
    async fn deliver(&self, id: u64, delivery: Delivery, hook: Webhook, recorder: &tokio::sync::mpsc::Sender<Recorded>) {
        let started = Instant::now();
        let (status, error) = self.post(&delivery.hook, &hook, id, delivery.payload).await;
        let at = now_millis();
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let retry_at = (!delivered).then(|| retry_at(&self.options, delivery.created_at, delivery.attempts + 1, at)).flatten();
        let attempt = Attempt { delivery: id, at, status, error, duration_ms: started.elapsed().as_millis() as u64, retry_at };
        let (done, recorded) = tokio::sync::oneshot::channel();
        if recorder.send((attempt, done)).await.is_err() || recorded.await.is_err() {
            tracing::warn!(delivery = id, "a webhook delivery's attempt was not recorded (the recorder stopped)");
        }
    }

    /// Records finished attempts, all those that finished while the previous command was
    /// applied in one command: a write per batch, not per delivery, so that ten webhooks
    /// on every push do not add ten writes to each push's.
    async fn record(self: Arc<Self>, mut attempts: tokio::sync::mpsc::Receiver<Recorded>) {
        let mut batch = Vec::new();
        while attempts.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let (attempts, done): (Vec<Attempt>, Vec<_>) = batch.drain(..).unzip();
            let count = attempts.len();
            let record = Command::RecordDeliveries(RecordDeliveries { attempts, pause_after: self.options.pause_after });
            if let Err(e) = berth_meta::origin::scope(berth_meta::origin::RequestOrigin::job("webhooks"), self.meta.apply(record)).await {
                tracing::warn!(attempts = count, error = %e, "recording webhook deliveries");
            }
            for done in done {
                let _ = done.send(());
            }
        }
    }

    /// Signs and posts `payload`; the status, or why there was none (or why it is a failure).
    async fn post(&self, hook_id: &str, hook: &Webhook, delivery: u64, payload: String) -> (Option<u16>, Option<String>) {
        let body = self.with_registry_host(payload);
        let secret = match self.master.open(&purpose(hook_id), &hook.sealed_secret) {
            Ok(secret) => secret,
            Err(e) => return (None, Some(format!("the hook's secret cannot be read: {e}"))),
        };
        let client = match self.client(hook_id, hook) {
            Ok(client) => client,
            Err(e) => return (None, Some(e)),
        };
        if let Err(e) = self.check_literal_address(&hook.endpoint) {
            return (None, Some(e));
        }
        let kind =
            serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["type"].as_str().map(str::to_owned)).unwrap_or_default();
        let request = client
            .post(&hook.endpoint)
            .header("content-type", "application/json")
            .header("user-agent", concat!("Berth-Webhook/", env!("CARGO_PKG_VERSION")))
            .header("x-berth-event", kind)
            .header("x-berth-delivery", delivery.to_string())
            .header("x-berth-signature", signature(&secret, now(), body.as_bytes()))
            .body(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                if response.status().is_success() {
                    (Some(status), None)
                } else {
                    let text = response.text().await.unwrap_or_default();
                    let text: String = text.chars().take(ERROR_CHARS).collect();
                    (Some(status), Some(format!("the endpoint answered {status}: {}", text.trim())))
                }
            }
            Err(e) => (None, Some(describe(&e))),
        }
    }

    /// The payload with the registry's host in front of `contents.imageName`.
    fn with_registry_host(&self, payload: String) -> String {
        let Some(host) = &self.options.registry_host else { return payload };
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&payload) else { return payload };
        if let Some(name) = value["contents"]["imageName"].as_str() {
            value["contents"]["imageName"] = serde_json::json!(format!("{host}/{name}"));
        }
        value.to_string()
    }

    /// Refuses an endpoint given as a blocked address (names are checked by the resolver).
    fn check_literal_address(&self, endpoint: &str) -> Result<(), String> {
        match literal_blocked(endpoint, self.options.allow_local) {
            Some(ip) => Err(format!("{ip} is a local address; webhooks may not reach it")),
            None => Ok(()),
        }
    }

    /// The hook's client: its CA when it has one, the system's otherwise.
    fn client(&self, id: &str, hook: &Webhook) -> Result<reqwest::Client, String> {
        let fingerprint = format!("{}|{}", hook.endpoint, hook.tls_cert.as_deref().unwrap_or(""));
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((f, client)) = clients.get(id)
            && *f == fingerprint
        {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(self.options.timeout)
            .connect_timeout(self.options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow_local: self.options.allow_local }));
        if let Some(pem) = &hook.tls_cert {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| format!("the hook's tlsCert: {e}"))?;
            builder = builder.tls_certs_only(certs);
        }
        let client = builder.build().map_err(|e| format!("building the HTTP client: {e}"))?;
        clients.insert(id.to_owned(), (fingerprint, client.clone()));
        Ok(client)
    }
}

/// When to try again after `attempts` failed ones, if the delivery is still worth it.
fn retry_at(options: &WebhookOptions, created_at: u64, attempts: u32, now: u64) -> Option<u64> {
    crate::outbound::retry_at(options.retry_base, options.retry_for, created_at, attempts, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_and_body() {
        // Checked against: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature(b"secret", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn retries_double_and_stop() {
        let options =
            WebhookOptions { retry_base: Duration::from_secs(1), retry_for: Duration::from_secs(10), ..WebhookOptions::default() };
        assert_eq!(retry_at(&options, 0, 1, 0), Some(1000));
        assert_eq!(retry_at(&options, 0, 2, 1000), Some(3000));
        assert_eq!(retry_at(&options, 0, 3, 3000), Some(7000));
        assert_eq!(retry_at(&options, 0, 4, 7000), None);
    }
}
