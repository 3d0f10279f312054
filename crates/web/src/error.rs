//! The one error type of the HTTP layer and its JSON shape: a
//! [`ServiceError`] (or an error of HTTP's own) rendered once, here.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use curatore_domain::DomainError;
use curatore_service::{ErrorCode, ServiceError};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// A failed request: a stable [`ErrorCode`] (which decides the status), a
/// message for people and, for 429 and 503, when to retry. Rendered as
/// `{"error": {"code": …, "message": …}, "detail": …}`, where `detail`
/// repeats the message: the original's clients (and its web UI) show
/// `body.detail`.
///
/// Messages never carry SQL, stack traces or secrets; the underlying cause is
/// logged instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(ServiceError);

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
    detail: &'a str,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ServiceError::new(code, message))
    }

    /// 429 `too_many_attempts` with `Retry-After` (whole seconds, at least 1).
    pub fn too_many_attempts(wait: Duration, what: &str) -> Self {
        Self(ServiceError::too_many_attempts(wait, what))
    }

    /// 429 `rate_limited` with `Retry-After` (whole seconds, at least 1).
    pub fn rate_limited(wait: Duration) -> Self {
        Self(ServiceError::rate_limited(wait))
    }

    /// 400 `validation_failed`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// 404 for something that does not exist (or that the caller may not see).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 503 while the database cannot be reached.
    pub fn database_unavailable() -> Self {
        Self::new(
            ErrorCode::DatabaseUnavailable,
            "the database is unavailable; try again shortly",
        )
    }

    /// 500 for a failure that is ours; the detail goes to the log only.
    pub fn internal() -> Self {
        Self(ServiceError::internal())
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> ErrorCode {
        self.0.code()
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        self.0.message()
    }

    /// The `Retry-After` seconds this error answers with, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.0.retry_after().map(|d| d.as_secs())
    }

    /// The JSON body for any code and message; also used for actix's own
    /// errors so every failure has the same shape.
    pub(crate) fn body(code: ErrorCode, message: &str) -> String {
        serde_json::to_string(&Body {
            error: Detail {
                code: code.as_str(),
                message,
            },
            detail: message,
        })
        .unwrap_or_else(|_| {
            r#"{"error":{"code":"internal_error","message":""},"detail":""}"#.to_owned()
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The status a code is answered with.
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.code())
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        res.content_type("application/json");
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"curatore\""),
            ));
        }
        if let Some(secs) = self.retry_after() {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        res.body(Self::body(self.code(), self.message()))
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        Self(err)
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        Self(err.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn too_many_attempts_is_an_error_with_retry_after_and_the_json_shape() {
        let err = ApiError::too_many_attempts(Duration::from_millis(1500), "failed logins");
        assert_eq!(err.retry_after(), Some(2));
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "2");
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "too_many_attempts");
        assert_eq!(
            body["error"]["message"],
            "too many failed logins; try again in 2 s"
        );
        assert_eq!(
            body["detail"], body["error"]["message"],
            "detail for the original's clients"
        );
        // Other errors keep their headers: 503 its default, 4xx none.
        assert_eq!(ApiError::database_unavailable().retry_after(), Some(5));
        assert_eq!(ApiError::not_found("x").retry_after(), None);
    }

    #[test]
    fn every_code_maps_to_its_status() {
        for code in ErrorCode::ALL {
            assert_eq!(status_of(*code).as_u16(), code.status(), "{code}");
        }
    }
}
