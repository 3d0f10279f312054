//! The one error type of the HTTP layer and its JSON shape.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use curatore_auth::AuthError;
use curatore_domain::DomainError;
use curatore_persistence::PersistenceError;
use serde::Serialize;
use std::fmt;

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
        }
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS)));
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
