//! Input rules: explicit limits and JSON errors for bad input.
//!
//! actix answers its own extractor failures in plain text (and a malformed
//! path parameter as a 404) unless each extractor's config has a handler.

use crate::ErrorCode;
use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{HttpRequest, web};

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT_BYTES: usize = 256 * 1024;

pub(crate) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT_BYTES)
        .error_handler(|err, _req: &HttpRequest| json_error(&err).into())
}

pub(crate) fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(BODY_LIMIT_BYTES)
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| path_error(&err).into())
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(&err).into())
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {BODY_LIMIT_BYTES} bytes"),
    )
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            too_large()
        }
        JsonPayloadError::Payload(PayloadError::Overflow) => too_large(),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            ErrorCode::InvalidBody,
            format!("the request body is not valid: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            ErrorCode::InvalidJson,
            format!("the request body is not valid JSON: {e}"),
        ),
        _ => ApiError::new(ErrorCode::InvalidBody, "the request body could not be read"),
    }
}

/// An optional JSON body: `None` when the body is empty; otherwise as
/// [`Json`] (an `Option<web::Json<T>>` extractor would take a bad body for
/// no body).
pub(crate) fn optional_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    parse_json(req, body).map(Some)
}

/// `application/json` (or `…+json`), a JSON object, and `T`'s shape.
fn parse_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let is_json = actix_web::HttpMessage::mime_type(req)
        .ok()
        .flatten()
        .is_some_and(|m| {
            m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON)
        });
    if !is_json {
        return Err(json_error(&JsonPayloadError::ContentType));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| json_error(&JsonPayloadError::Deserialize(e)))?;
    // serde reads a struct from an array too (`[null, null]`); bodies are objects.
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "the request body is not valid: expected a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("the request body is not valid: {e}"),
        )
    })
}

/// A JSON request body, like `web::Json` with our errors, that must also be
/// a JSON object. Handlers take `Json<T>` and use `.into_inner()` or deref.
pub(crate) struct Json<T>(pub(crate) T);

impl<T> Json<T> {
    pub(crate) fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let bytes = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = bytes.await?;
            Ok(Json(parse_json(&req, &body)?))
        })
    }
}

fn path_error(err: &PathError) -> ApiError {
    let PathError::Deserialize(e) = err else {
        return ApiError::new(
            ErrorCode::InvalidPathParameter,
            "a path parameter is not valid",
        );
    };
    ApiError::new(
        ErrorCode::InvalidPathParameter,
        format!("a path parameter is not valid: {e}"),
    )
}

fn query_error(err: &QueryPayloadError) -> ApiError {
    let QueryPayloadError::Deserialize(e) = err else {
        return ApiError::new(
            ErrorCode::InvalidQueryParameter,
            "a query parameter is not valid",
        );
    };
    ApiError::new(
        ErrorCode::InvalidQueryParameter,
        format!("a query parameter is not valid: {e}"),
    )
}

/// A text value of a body or a query string as its domain type (a role, an
/// e-mail address, a username); a bad one is 400 `validation_failed` with
/// the domain's sentence.
pub(crate) fn domain<T>(raw: Option<String>) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr<Err = curatore_domain::DomainError>,
{
    raw.map(|r| r.parse::<T>())
        .transpose()
        .map_err(ApiError::from)
}
