//! Reading a request body within the configured limit.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use http_body_util::BodyExt as _;

use crate::error::RequestError;

/// Reads the whole body, refusing more than `limit` bytes with
/// [`RequestError::TooLarge`] (a declared `Content-Length` over the limit
/// is refused before anything is read).
pub(crate) async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, RequestError> {
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(RequestError::TooLarge { limit });
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(RequestError::TooLarge { limit })
        }
        Err(e) => Err(RequestError::Body(e.to_string())),
    }
}
