//! Input rules: explicit limits and JSON errors for bad input.
//!
//! actix answers its own extractor failures in plain text (and a malformed
//! path parameter as a 404) unless each extractor's config has a handler.

use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{HttpRequest, web};
use curatore_service::ErrorCode;

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
