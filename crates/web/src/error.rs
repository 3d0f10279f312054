//! The one error type of the HTTP layer and its JSON shape.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use curatore_auth::AuthError;
use curatore_domain::DomainError;
use curatore_persistence::PersistenceError;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// How long a client should wait before retrying when the database is down.
const RETRY_AFTER_SECONDS: u32 = 5;

/// A failed request: an HTTP status, a stable machine-readable `code` and a
/// message for people. Rendered as `{"error": {"code": …, "message": …}}`.
///
/// Messages never carry SQL, stack traces or secrets; the underlying cause is
/// logged instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for `Retry-After`; 503s without one get the default.
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `too_many_attempts` with `Retry-After` (whole seconds, at least 1).
    pub fn too_many_attempts(wait: Duration, what: &str) -> Self {
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many {what}; try again in {secs} s"),
        )
        .with_retry_after(secs)
    }

    /// Adds a `Retry-After` header of `seconds` to the response.
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 for a request that breaks a rule; `code` says which.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for something that does not exist (or that the caller may not see).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503 while the database cannot be reached.
    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; try again shortly",
        )
    }

    /// 500 for a failure that is ours; the detail goes to the log only.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred",
        )
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` seconds this error answers with, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self.retry_after {
            Some(secs) => Some(secs),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => {
                Some(RETRY_AFTER_SECONDS.into())
            }
            None => None,
        }
    }

    /// The JSON body for any status, code and message; also used for
    /// actix's own errors so every failure has the same shape.
    pub(crate) fn body(code: &str, message: &str) -> String {
        serde_json::to_string(&Body {
            error: Detail { code, message },
        })
        .unwrap_or_else(|_| r#"{"error":{"code":"internal_error","message":""}}"#.to_owned())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.content_type("application/json");
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"curatore\""),
            ));
        }
        if let Some(secs) = self.retry_after() {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        res.body(Self::body(self.code, &self.message))
    }
}

impl From<PersistenceError> for ApiError {
    fn from(err: PersistenceError) -> Self {
        match err {
            PersistenceError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::database_unavailable()
            }
            PersistenceError::Conflict { field } => Self::new(
                StatusCode::CONFLICT,
                match field {
                    "email" => "email_taken",
                    "username" => "username_taken",
                    "slug" => "slug_taken",
                    "name" => "name_taken",
                    _ => "conflict",
                },
                format!("a record with this {field} already exists"),
            ),
            PersistenceError::MissingReference => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_reference",
                "a referenced record does not exist",
            ),
            PersistenceError::NotFound => Self::not_found("not found"),
            PersistenceError::InvalidText => Self::bad_request(
                "validation_failed",
                "a text value holds a character that cannot be stored (such as U+0000)",
            ),
            other => {
                tracing::error!(error = %other, cause = ?std::error::Error::source(&other), "database failure");
                Self::internal()
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        Self::bad_request("validation_failed", err.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::PasswordPolicy(reason) => Self::bad_request("weak_password", reason),
            AuthError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_busy",
                "too many password checks at once; try again shortly",
            ),
            other => {
                tracing::error!(error = %other, "authentication failure");
                Self::internal()
            }
        }
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
        // Other errors keep their headers: 503 its default, 4xx none.
        assert_eq!(ApiError::database_unavailable().retry_after(), Some(5));
        assert_eq!(ApiError::not_found("x").retry_after(), None);
    }
}
