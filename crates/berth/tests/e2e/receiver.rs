//! A webhook receiver the tests run: a real HTTP (or HTTPS) server on loopback that
//! records what it is sent and answers as the test tells it to (succeed, fail, hang).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    /// 200.
    Accept,
    /// 500 with a short body.
    Fail,
    /// Never answers (until the sender gives up).
    Hang,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: hyper::HeaderMap,
    pub body: String,
    /// What the receiver answered (after reading the body).
    pub answered: Behaviour,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    behaviour: Option<Behaviour>,
    /// Answers to give first, before `behaviour`.
    script: Vec<Behaviour>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:port/hook` or `https://…`.
    pub url: String,
    /// The PEM certificate of an HTTPS receiver's CA.
    pub ca_pem: Option<String>,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A plain-HTTP receiver.
    pub async fn plain() -> Receiver {
        Receiver::start(None).await
    }

    /// An HTTPS receiver with a certificate for 127.0.0.1 from its own CA.
    pub async fn tls() -> Receiver {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "webhook receiver CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let chain = vec![cert.der().clone()];
        let private = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .unwrap();
        let mut receiver = Receiver::start(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await;
        receiver.ca_pem = Some(ca.pem());
        receiver
    }

    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, tls) = (shared.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| answer(state.clone(), request));
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Receiver { url: format!("{scheme}://127.0.0.1:{port}/hook"), ca_pem: None, state, task }
    }

    /// Answers every next request so.
    pub fn set(&self, behaviour: Behaviour) {
        let mut state = self.state.lock().unwrap();
        state.behaviour = Some(behaviour);
        state.script.clear();
    }

    /// Answers the next requests as `script` says, then as [`Receiver::set`] said.
    pub fn script(&self, script: &[Behaviour]) {
        self.state.lock().unwrap().script = script.to_vec();
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits (at most `within`) until `wanted` holds for what was received; what was received.
    pub async fn wait_for(&self, within: Duration, wanted: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if wanted(&received) || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for a request whose payload has `type` = `kind`.
    pub async fn wait_for_type(&self, kind: &str) -> Received {
        let received = self.wait_for(Duration::from_secs(20), |r| r.iter().any(|r| r.json()["type"] == kind)).await;
        received.into_iter().find(|r| r.json()["type"] == kind).unwrap_or_else(|| panic!("no {kind} delivery within 20 s"))
    }
}

async fn answer(state: Arc<Mutex<State>>, request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers = request.headers().clone();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let behaviour = {
        let mut state = state.lock().unwrap();
        let behaviour = if state.script.is_empty() { state.behaviour.unwrap_or(Behaviour::Accept) } else { state.script.remove(0) };
        state.received.push(Received { headers, body: String::from_utf8_lossy(&body).into_owned(), answered: behaviour });
        behaviour
    };
    match behaviour {
        Behaviour::Accept => Ok(Response::new(Full::new(Bytes::from_static(b"ok")))),
        Behaviour::Fail => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"receiver is down")));
            *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            Ok(response)
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok(Response::new(Full::new(Bytes::new())))
        }
    }
}

/// Checks `x-berth-signature: t=<unix>,v1=<hex>` against HMAC-SHA256(secret, "<t>.<body>"),
/// as a receiver would (constant-time compare, timestamp within five minutes).
pub fn signature_valid(secret: &str, received: &Received) -> bool {
    let header = received.header("x-berth-signature");
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if now.abs_diff(t) > 300 {
        return false;
    }
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    aws_lc_rs::hmac::verify(&key, format!("{t}.{}", received.body).as_bytes(), &v1).is_ok()
}
