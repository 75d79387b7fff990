//! Health endpoints, unauthenticated: `/_ping` and `/health` (DTR's shape), the nginx
//! stub status at `/nginx_status`, and Prometheus metrics at `/metrics`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;

/// `GET /_ping`, `GET /health`: `200 {"Error":"","Healthy":true}`, or `503` naming the
/// failing part: the quorum, the metadata or the blob storage.
pub async fn health(State(app): State<AppState>) -> Response {
    let mut failures: Vec<String> = app.registry.check().await.into_iter().map(str::to_owned).collect();
    if !app.cluster.has_quorum() {
        failures.insert(0, format!("no quorum: replica {} cannot reach a majority of its cluster", app.cluster.replica_id()));
    }
    let (status, body) = if failures.is_empty() {
        (StatusCode::OK, json!({"Error": "", "Healthy": true}))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, json!({"Error": failures.join("; "), "Healthy": false}))
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// `GET /nginx_status`, in nginx's stub status format.
pub async fn nginx_status(State(app): State<AppState>) -> Response {
    let c = &app.conns;
    let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
    let (active, reading, writing) = (load(&c.active), load(&c.reading), load(&c.writing));
    let waiting = active.saturating_sub(reading + writing);
    let body = format!(
        "Active connections: {active} \nserver accepts handled requests\n {} {} {} \nReading: {reading} Writing: {writing} Waiting: {waiting} \n",
        load(&c.accepts),
        load(&c.handled),
        load(&c.requests),
    );
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// `GET /metrics`, Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let body = app.metrics.scrape(&app).await;
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
