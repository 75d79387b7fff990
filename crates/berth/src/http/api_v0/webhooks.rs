//! Webhooks, in DTR's shapes: made, listed, paused, deleted by the administrators of
//! their repository or namespace; their delivery log, redelivery and a test post.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_services::webhooks::{DeliveryState, Webhook, rfc3339};
use serde::Deserialize;

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// `POST /api/v0/webhooks` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewWebhook {
    /// `TAG_PUSH`, `TAG_PULL`, `TAG_DELETE`, `MANIFEST_PUSH`, `MANIFEST_PULL`, `MANIFEST_DELETE`,
    /// `REPO_EVENT` or `SECURITY_EVENT`.
    #[serde(rename = "type")]
    kind: String,
    /// `namespace/repository` or `namespace`.
    key: String,
    /// An http or https URL.
    endpoint: String,
    /// PEM certificates the endpoint's certificate must chain to (else the system's).
    #[serde(default)]
    tls_cert: Option<String>,
    /// The signing secret (16 to 256 characters); one is made when absent.
    #[serde(default)]
    secret: Option<String>,
}

/// `PATCH /api/v0/webhooks/{id}` body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct WebhookChanges {
    /// Pause (`true`) or resume (`false`) deliveries; resuming forgets past failures.
    paused: bool,
}

fn webhook_model(id: &str, hook: &Webhook) -> model::Webhook {
    model::Webhook {
        id: id.to_owned(),
        kind: hook.kind.clone(),
        key: hook.key.clone(),
        endpoint: hook.endpoint.clone(),
        tls_cert: hook.tls_cert.clone(),
        created_by: hook.created_by.clone(),
        created_at: hook.created_at,
        paused: hook.paused.is_some(),
        paused_reason: hook.paused.clone(),
        failures: hook.failures,
        secret: None,
    }
}

#[utoipa::path(post, path = "/api/v0/webhooks", tag = "webhooks", request_body = NewWebhook, responses((status = 201, description = "the webhook, with its secret shown once", body = model::Webhook), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Subscribes an endpoint to one type of event in a repository or namespace (its
/// administrators only).
pub async fn create(State(app): State<AppState>, caller: Caller, Json(new): Json<NewWebhook>) -> Result<Response, ApiV0Error> {
    let spec =
        berth_services::NewWebhook { kind: new.kind, key: new.key, endpoint: new.endpoint, tls_cert: new.tls_cert, secret: new.secret };
    let (id, hook, secret) = app.webhooks.create(&caller.0, spec).await?;
    let mut body = webhook_model(&id, &hook);
    body.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v0/webhooks", tag = "webhooks", responses((status = 200, description = "the webhooks the caller manages", body = model::WebhookList)))]
/// Lists the webhooks the caller manages.
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiV0Error> {
    let webhooks = app.webhooks.list(&caller.0).await?.iter().map(|(id, hook)| webhook_model(id, hook)).collect();
    Ok(Json(model::WebhookList { webhooks }).into_response())
}

#[utoipa::path(get, path = "/api/v0/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "webhook id")), responses((status = 200, description = "the webhook", body = model::Webhook), (status = 404, description = "NO_SUCH_WEBHOOK", body = model::ErrorBody)))]
/// One webhook, with whether it is paused and why.
pub async fn get(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiV0Error> {
    let hook = app.webhooks.get(&caller.0, &id).await?;
    Ok(Json(webhook_model(&id, &hook)).into_response())
}

#[utoipa::path(patch, path = "/api/v0/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "webhook id")), request_body = WebhookChanges, responses((status = 200, description = "the webhook", body = model::Webhook), (status = 404, description = "NO_SUCH_WEBHOOK", body = model::ErrorBody)))]
/// Pauses or resumes a webhook's deliveries.
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(changes): Json<WebhookChanges>,
) -> Result<Response, ApiV0Error> {
    let hook = app.webhooks.set_paused(&caller.0, &id, changes.paused).await?;
    Ok(Json(webhook_model(&id, &hook)).into_response())
}

#[utoipa::path(delete, path = "/api/v0/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "webhook id")), responses((status = 204, description = "deleted, with its delivery log"), (status = 404, description = "NO_SUCH_WEBHOOK", body = model::ErrorBody)))]
/// Deletes a webhook and its delivery log.
pub async fn delete(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiV0Error> {
    app.webhooks.delete(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `?before=<delivery id>&limit=<n>`.
#[derive(Deserialize)]
pub struct DeliveryQuery {
    before: Option<u64>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v0/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path, description = "webhook id"), ("before" = Option<u64>, Query, description = "only deliveries older than this one"), ("limit" = Option<usize>, Query, description = "at most this many (default 100)")), responses((status = 200, description = "the deliveries, newest first", body = model::DeliveryList), (status = 404, description = "NO_SUCH_WEBHOOK", body = model::ErrorBody)))]
/// A webhook's delivery log: each delivery's state, attempts, last status, error and duration.
pub async fn deliveries(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: axum::extract::Query<DeliveryQuery>,
) -> Result<Response, ApiV0Error> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let found = app.webhooks.deliveries(&caller.0, &id, query.before, limit).await?;
    let deliveries = found
        .into_iter()
        .map(|(id, d)| model::Delivery {
            id,
            event_id: d.event,
            state: match d.state {
                DeliveryState::Pending => "pending",
                DeliveryState::Delivered => "delivered",
                DeliveryState::Failed => "failed",
            }
            .to_owned(),
            attempts: d.attempts,
            status: d.status,
            error: d.error,
            duration_ms: d.duration_ms,
            created_at: rfc3339(d.created_at),
            attempted_at: (d.attempted_at > 0).then(|| rfc3339(d.attempted_at)),
            next_attempt_at: (d.state == DeliveryState::Pending).then(|| rfc3339(d.due_at)),
            payload: d.payload,
        })
        .collect();
    Ok(Json(model::DeliveryList { deliveries }).into_response())
}

#[utoipa::path(post, path = "/api/v0/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks", params(("id" = String, Path, description = "webhook id"), ("delivery" = u64, Path, description = "delivery id")), responses((status = 202, description = "queued again, due at once"), (status = 404, description = "NO_SUCH_WEBHOOK or NO_SUCH_DELIVERY", body = model::ErrorBody)))]
/// Queues a delivery again (its attempts start over).
pub async fn redeliver(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, delivery)): Path<(String, u64)>,
) -> Result<Response, ApiV0Error> {
    app.webhooks.redeliver(&caller.0, &id, delivery).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[utoipa::path(post, path = "/api/v0/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path, description = "webhook id")), responses((status = 200, description = "what the endpoint answered a signed test payload", body = model::WebhookTest), (status = 404, description = "NO_SUCH_WEBHOOK", body = model::ErrorBody)))]
/// Posts a signed test payload (`"type": "TEST"`) to the endpoint now and says what it answered.
pub async fn test(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiV0Error> {
    let result = app.webhooks.test(&caller.0, &id).await?;
    let delivered = result.status.is_some_and(|s| (200..300).contains(&s));
    let body =
        model::WebhookTest { delivered, status: result.status, error: result.error, duration_ms: result.duration.as_millis() as u64 };
    Ok(Json(body).into_response())
}
