//! The audit log: `GET /api/v0/events`, filtered and paged newest first, and its export
//! as JSON lines for a SIEM. Each caller sees what the policy lets them read.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_auth::{Event, EventFilter};

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// The default and largest page.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

fn event_model(id: u64, e: Event) -> model::Event {
    model::Event {
        id,
        created_at: berth_services::webhooks::rfc3339(e.at),
        kind: e.kind,
        user: e.user,
        token: e.token,
        source_address: e.source,
        job: e.job,
        repository: e.repository,
        object: e.object,
        digest: e.digest,
        details: e.details,
        result: e.refused.unwrap_or_else(|| "ok".to_owned()),
        count: e.count,
    }
}

/// A time given as RFC 3339 or as seconds since the epoch, in milliseconds.
fn parse_time(name: &str, value: &str) -> Result<u64, ApiV0Error> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Ok(seconds.saturating_mul(1000));
    }
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
        .ok_or_else(|| ApiV0Error::invalid(format!("{name} {value:?}: use RFC 3339 (2026-01-31T12:00:00Z) or seconds since the epoch")))
}

/// Reads the filter: `repository`, `user`, `type`, `since`, `until`, `before`, `limit`.
fn parse_filter(query: Option<&str>) -> Result<EventFilter, ApiV0Error> {
    let mut filter = EventFilter { limit: DEFAULT_LIMIT, ..EventFilter::default() };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "repository" => filter.repository = Some(value),
            "user" => filter.user = Some(value),
            "type" => filter.kind = Some(value.to_ascii_uppercase()),
            "since" => filter.since = Some(parse_time("since", &value)?),
            "until" => filter.until = Some(parse_time("until", &value)?),
            "before" => {
                filter.before = Some(value.parse().map_err(|_| ApiV0Error::invalid(format!("before {value:?} is not an event id")))?)
            }
            "after" => filter.after = Some(value.parse().map_err(|_| ApiV0Error::invalid(format!("after {value:?} is not an event id")))?),
            "limit" => {
                let n: usize = value.parse().map_err(|_| ApiV0Error::invalid(format!("limit {value:?} is not a number")))?;
                filter.limit = n.clamp(1, MAX_LIMIT);
            }
            other => return Err(ApiV0Error::invalid(format!("unknown parameter {other:?}"))),
        }
    }
    Ok(filter)
}

#[utoipa::path(get, path = "/api/v0/events", tag = "events", params(
    ("repository" = Option<String>, Query, description = "only this repository's events"),
    ("user" = Option<String>, Query, description = "only this user's"),
    ("type" = Option<String>, Query, description = "only of this type (TAG_PUSH, TAG_PULL, REPO_CREATED, …)"),
    ("since" = Option<String>, Query, description = "only at or after this time (RFC 3339, or seconds since the epoch)"),
    ("until" = Option<String>, Query, description = "only at or before this time"),
    ("before" = Option<u64>, Query, description = "only events older than this id (the next page; see Link)"),
    ("after" = Option<u64>, Query, description = "only events newer than this id (to follow the log)"),
    ("limit" = Option<usize>, Query, description = "at most this many (default 100, at most 1000)"),
), responses((status = 200, description = "events, newest first; a `Link: <…>; rel=\"next\"` header when older ones may match", body = model::EventList)))]
/// The audit log as the caller may read it: administrators everything; others the events
/// of the repositories they can read and of their own account. A page looks at a bounded
/// number of events, so a rare match may take several pages (follow `Link`).
pub async fn list(State(app): State<AppState>, caller: Caller, uri: axum::http::Uri) -> Result<Response, ApiV0Error> {
    let filter = parse_filter(uri.query())?;
    let limit = filter.limit;
    let page = app.auth.events(&caller.0, filter).await?;
    let events = page.events.into_iter().map(|(id, e)| event_model(id, e)).collect();
    let mut response = Json(model::EventList { events }).into_response();
    if let Some(next) = page.next {
        let kept: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "before" && k != "limit")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(kept).append_pair("before", &next.to_string()).append_pair("limit", &limit.to_string());
        if let Ok(link) = HeaderValue::from_str(&format!("</api/v0/events?{}>; rel=\"next\"", query.finish())) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v0/events/export", tag = "events", params(
    ("repository" = Option<String>, Query, description = "only this repository's events"),
    ("user" = Option<String>, Query, description = "only this user's"),
    ("type" = Option<String>, Query, description = "only of this type"),
    ("since" = Option<String>, Query, description = "only at or after this time"),
    ("until" = Option<String>, Query, description = "only at or before this time"),
), responses((status = 200, description = "every matching event the caller may read, newest first, one JSON object (as in `/api/v0/events`) per line", content_type = "application/x-ndjson", body = String)))]
/// Every matching event, streamed as JSON lines (for a SIEM), read a page at a time.
pub async fn export(State(app): State<AppState>, caller: Caller, uri: axum::http::Uri) -> Result<Response, ApiV0Error> {
    let mut filter = parse_filter(uri.query())?;
    filter.limit = MAX_LIMIT;
    // The first page answers now, so a refused or failing export fails before the 200.
    let first = app.auth.events(&caller.0, filter.clone()).await?;
    let state = (app, caller.0, filter, Some(first));
    let lines = futures_util::stream::unfold(state, |(app, subject, mut filter, page)| async move {
        let page = match page {
            Some(page) => page,
            None if filter.before.is_some() => match app.auth.events(&subject, filter.clone()).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "exporting events");
                    return Some((Err(std::io::Error::other("the export failed")), (app, subject, filter, None)));
                }
            },
            None => return None,
        };
        let mut text = String::new();
        for (id, event) in page.events {
            text.push_str(&serde_json::to_string(&event_model(id, event)).unwrap_or_default());
            text.push('\n');
        }
        // Without a next page the cursor is spent, and the stream ends after this chunk.
        filter.before = page.next;
        Some((Ok::<_, std::io::Error>(bytes::Bytes::from(text)), (app, subject, filter, None)))
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response())
}
