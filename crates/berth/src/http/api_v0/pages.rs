//! Paged listings: `?start=<last name seen>&limit=<n>`, answered with `X-Total-Count`
//! and a `Link: <…?start=…&limit=…>; rel="next"` when more remain.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::ApiV0Error;

/// The default and largest page.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// A page request.
pub struct PageQuery {
    start: Option<String>,
    limit: usize,
}

impl PageQuery {
    /// Parses `start` and `limit` from a query string.
    pub fn parse(query: Option<&str>) -> Result<PageQuery, ApiV0Error> {
        let mut page = PageQuery { start: None, limit: DEFAULT_LIMIT };
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "start" => page.start = Some(value.into_owned()),
                "limit" => {
                    let n: usize = value.parse().map_err(|_| ApiV0Error::invalid(format!("limit {value:?} is not a number")))?;
                    page.limit = n.clamp(1, MAX_LIMIT);
                }
                _ => {}
            }
        }
        Ok(page)
    }

    /// Answers with the page of `all` (sorted names) this request asks for, in the body
    /// `body` makes of the page's names.
    pub fn respond<T: serde::Serialize>(&self, path: &str, all: &[String], body: impl FnOnce(&[String]) -> T) -> Response {
        let from = self.start.as_ref().map_or(0, |start| all.partition_point(|name| name.as_str() <= start.as_str()));
        let page = &all[from..(from + self.limit).min(all.len())];
        let mut response = Json(body(page)).into_response();
        let headers = response.headers_mut();
        headers.insert("x-total-count", HeaderValue::from(all.len()));
        if let Some(last) = page.last().filter(|_| from + page.len() < all.len()) {
            let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
            if let Ok(link) = HeaderValue::from_str(&format!("<{path}?start={last}&limit={}>; rel=\"next\"", self.limit)) {
                headers.insert(header::LINK, link);
            }
        }
        response
    }
}
