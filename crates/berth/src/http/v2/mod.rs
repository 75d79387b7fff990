//! `/v2`: parse the path into a [`route::V2Route`], then call the one handler for that
//! endpoint and method. Every answer carries `Docker-Distribution-API-Version`.

pub mod route;

mod blobs;
mod listings;
mod manifests;
mod uploads;

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::Subject;
use berth_registry::ByteStream;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use self::route::V2Route;
use super::RouteName;
use super::auth;
use super::error::ApiError;
use crate::app::AppState;

/// Handles every `/v2` request: route, authenticate, authorize, then the handler.
pub async fn dispatch(State(app): State<AppState>, request: Request) -> Response {
    let route = V2Route::parse(request.method(), request.uri().path());
    let name = route.as_ref().map_or("v2_unmatched", V2Route::name);
    let result = match route {
        Ok(route) => admit(&app, route, request).await,
        Err(e) => Err(e.into()),
    };
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.headers_mut().insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    // A handler may have named its answer more precisely (a mount among uploads).
    if response.extensions().get::<RouteName>().is_none() {
        response.extensions_mut().insert(RouteName(name));
    }
    response
}

async fn admit(app: &AppState, route: V2Route, request: Request) -> Result<Response, ApiError> {
    let subject = auth::identify(app, request.headers(), request.extensions()).await?;
    auth::authorize(app, &subject, &route, request.method(), request.extensions()).await?;
    handle(app, route, request, &subject).await
}

async fn handle(app: &AppState, route: V2Route, request: Request, subject: &Subject) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let head = parts.method == Method::HEAD;
    let query = parts.uri.query().unwrap_or("");
    let headers = &parts.headers;
    match (route, parts.method.clone()) {
        (V2Route::Base, _) => Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()),
        (V2Route::Catalog, _) => listings::catalog(app, query, subject.clone()).await,
        (V2Route::Tags { name }, _) => listings::tags(app, &name, query).await,
        (V2Route::Referrers { name, digest }, _) => listings::referrers(app, &name, &digest, query).await,
        (V2Route::Blob { name, digest }, Method::DELETE) => blobs::delete(app, &name, &digest).await,
        (V2Route::Blob { name, digest }, _) => blobs::get(app, &name, &digest, headers, head).await,
        (V2Route::Manifest { name, reference }, Method::PUT) => manifests::put(app, &name, &reference, headers, body, subject.name()).await,
        (V2Route::Manifest { name, reference }, Method::DELETE) => manifests::delete(app, &name, &reference, subject.name()).await,
        (V2Route::Manifest { name, reference }, _) => manifests::get(app, &name, &reference, head).await,
        (V2Route::Uploads { name }, _) => uploads::start(app, subject, &name, query, body).await,
        (V2Route::Upload { name, id }, Method::GET) => uploads::status(app, &name, &id).await,
        (V2Route::Upload { name, id }, Method::PATCH) => uploads::patch(app, &name, &id, headers, body).await,
        (V2Route::Upload { name, id }, Method::PUT) => uploads::finish(app, &name, &id, query, headers, body).await,
        (V2Route::Upload { name, id }, _) => uploads::cancel(app, &name, &id).await,
        (V2Route::Trust { gun, endpoint, .. }, method) => super::trust::handle(app, &gun, endpoint, &method, headers, body).await,
    }
}

/// One query parameter's value, percent-decoded.
fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// The most of a refused request's body read and thrown away, so that a client still
/// sending it gets to read the error instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// Reads and discards what is left of a body, in the background and within bounds.
pub fn discard(stream: BodyDataStream) {
    tokio::spawn(async move {
        let mut stream = stream;
        let mut drained = 0u64;
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(chunk)) = stream.next().await {
                drained += chunk.len() as u64;
                if drained > DRAIN_LIMIT {
                    break;
                }
            }
        })
        .await;
    });
}

/// A request body as a byte stream, counted into the metrics; if the registry stops
/// reading it early (a refused chunk), the rest is discarded in the background.
struct RequestBody {
    inner: Option<BodyDataStream>,
    app: AppState,
    finished: bool,
}

impl Stream for RequestBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let next = ready!(inner.poll_next_unpin(cx));
        match &next {
            Some(Ok(chunk)) => self.app.metrics.received(chunk.len() as u64),
            Some(Err(_)) | None => self.finished = true,
        }
        Poll::Ready(next.map(|item| item.map_err(std::io::Error::other)))
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let (false, Some(inner)) = (self.finished, self.inner.take()) {
            discard(inner);
        }
    }
}

fn body_stream(app: &AppState, body: Body) -> ByteStream {
    Box::pin(RequestBody { inner: Some(body.into_data_stream()), app: app.clone(), finished: false })
}

/// Whether the request carries a body, whatever the framing (HTTP/1 length or chunks, HTTP/2 frames).
fn has_body(body: &Body) -> bool {
    !axum::body::HttpBody::is_end_stream(body)
}

/// The declared `Content-Length`, if any and well-formed.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}
