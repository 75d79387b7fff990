//! `/v2/<gun>/_trust/tuf/…`: the Notary-compatible trust service, on the registry's own
//! host and port. Thin: parse the request, call [`berth_trust::Trust`], write the answer.
//!
//! ```text
//! GET    …/tuf/<role>.json | <N>.<role>.json | <role>.<sha256>.json   the stored bytes
//! POST   …/tuf/              multipart, one part per role, filename = role      200, empty
//! DELETE …/tuf/              all trust data of the GUN                           200, empty
//! GET    …/tuf/{timestamp,snapshot}.key   the server's public key (created on first use)
//! POST   …/tuf/{timestamp,snapshot}.key   rotate: a new key
//! ```

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Code};
use super::v2::route::{Selector, TrustEndpoint};
use crate::app::AppState;

/// The largest update body accepted (all parts together).
const MAX_UPDATE: u64 = 16 << 20;

/// Handles one trust request (already authorized).
pub async fn handle(
    app: &AppState,
    gun: &str,
    endpoint: TrustEndpoint,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    match (endpoint, method.clone()) {
        (TrustEndpoint::Metadata { role, selector }, _) => {
            let current = selector == Selector::Current;
            let bytes = app.trust.get(gun, &role, selector).await?;
            let cache =
                if current { "public, max-age=300, s-maxage=300, must-revalidate" } else { "public, max-age=2592000, s-maxage=2592000" };
            let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            if *method == Method::HEAD {
                *response.body_mut() = Body::empty();
            }
            Ok(response)
        }
        (TrustEndpoint::Tuf, Method::POST) => {
            let parts = read_parts(headers, body).await?;
            app.trust.update(gun, parts).await?;
            Ok(empty())
        }
        (TrustEndpoint::Tuf, _) => {
            app.trust.delete(gun).await?;
            Ok(empty())
        }
        (TrustEndpoint::Key { role }, Method::POST) => Ok(json(app.trust.rotate_key(gun, role).await?)),
        (TrustEndpoint::Key { role }, _) => Ok(json(app.trust.key(gun, role).await?)),
    }
}

fn empty() -> Response {
    (StatusCode::OK, [(header::CONTENT_LENGTH, "0")]).into_response()
}

fn json(bytes: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Code::MalformedUpload, message)
}

/// The parts of a multipart update as (filename, bytes). Filenames are kept whole:
/// delegation roles contain `/`.
async fn read_parts(headers: &HeaderMap, body: Body) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed("the update must be multipart/form-data"))?;
    let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(MAX_UPDATE));
    let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut parts = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(malformed(format!("unreadable multipart body: {e}"))),
        };
        let Some(name) = field.file_name().map(str::to_owned) else {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidRole, "a part has no filename naming its role"));
        };
        let bytes = field.bytes().await.map_err(|e| malformed(format!("unreadable multipart body: {e}")))?;
        parts.push((name, bytes.to_vec()));
    }
    if parts.is_empty() {
        return Err(malformed("the update holds no parts"));
    }
    Ok(parts)
}
