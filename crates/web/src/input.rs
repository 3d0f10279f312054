//! Input rules: explicit limits and JSON errors for bad input, and the
//! checks of text fields shared by the handlers.
//!
//! actix answers its own extractor failures in plain text (and a malformed
//! path parameter as a 404) unless each extractor's config has a handler.

use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
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
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
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
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::bad_request(
            "invalid_body",
            format!("the request body is not valid: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        ),
        _ => ApiError::bad_request("invalid_body", "the request body could not be read"),
    }
}

fn path_error(err: &PathError) -> ApiError {
    let PathError::Deserialize(e) = err else {
        return ApiError::bad_request("invalid_path_parameter", "a path parameter is not valid");
    };
    ApiError::bad_request(
        "invalid_path_parameter",
        format!("a path parameter is not valid: {e}"),
    )
}

fn query_error(err: &QueryPayloadError) -> ApiError {
    let QueryPayloadError::Deserialize(e) = err else {
        return ApiError::bad_request("invalid_query_parameter", "a query parameter is not valid");
    };
    ApiError::bad_request(
        "invalid_query_parameter",
        format!("a query parameter is not valid: {e}"),
    )
}

/// The longest name or label accepted (the `varchar(255)` columns).
pub(crate) const NAME_MAX: usize = 255;

/// A required text field: trimmed, 1 to `max` characters, one line, nothing
/// invisible (see [`curatore_domain::text`]).
pub(crate) fn required_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, ApiError> {
    let value = value.trim();
    curatore_domain::text::check_line(field, value)?;
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::bad_request(
            "validation_failed",
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An optional text field: at most `max` characters; blank means absent.
pub(crate) fn optional_text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    if let Some(v) = &value {
        curatore_domain::text::check_line(field, v)?;
    }
    match value {
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) if v.chars().count() > max => Err(ApiError::bad_request(
            "validation_failed",
            format!("{field} must be at most {max} characters"),
        )),
        other => Ok(other),
    }
}
