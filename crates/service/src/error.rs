//! The one error type of the use cases, and the vocabulary of its codes.

use curatore_auth::AuthError;
use curatore_domain::DomainError;
use curatore_persistence::PersistenceError;
use std::time::Duration;

/// How long a client should wait before retrying while the database or the
/// password hasher cannot serve.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal, $status:literal;)+) => {
        /// Every code a client can receive, with the HTTP status it is sent
        /// with. Stable: clients branch on these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// All codes, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as sent in `{"error": {"code": …}}`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text,)+ }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)+ }
            }
        }
    };
}

error_codes! {
    /// 400: the request is not valid (generic, from the HTTP layer).
    BadRequest = "bad_request", 400;
    /// 400: the body is not JSON.
    InvalidJson = "invalid_json", 400;
    /// 400: the body is JSON of the wrong shape.
    InvalidBody = "invalid_body", 400;
    /// 400: a path parameter is malformed.
    InvalidPathParameter = "invalid_path_parameter", 400;
    /// 400: a query parameter is malformed.
    InvalidQueryParameter = "invalid_query_parameter", 400;
    /// 400: a value breaks a rule; the message says which.
    ValidationFailed = "validation_failed", 400;
    /// 400: the new password breaks the password policy.
    WeakPassword = "weak_password", 400;
    /// 400: `***REDACTED***` was sent as a new secret's value; send the secret itself.
    SecretIsRedactionMarker = "secret_is_redaction_marker", 400;
    /// 400: the setting key is not registered; the message names it.
    UnknownSetting = "unknown_setting", 400;
    /// 400: the setting comes from the environment only, or not from this layer.
    SettingNotWritable = "setting_not_writable", 400;
    /// 401: no credentials were sent.
    AuthenticationRequired = "authentication_required", 401;
    /// 401: the access token is not valid.
    InvalidToken = "invalid_token", 401;
    /// 401: the access token has expired.
    TokenExpired = "token_expired", 401;
    /// 401: the API key is not valid.
    InvalidApiKey = "invalid_api_key", 401;
    /// 401: wrong login or password (whatever the reason).
    InvalidCredentials = "invalid_credentials", 401;
    /// 401: the refresh token is not valid.
    InvalidRefreshToken = "invalid_refresh_token", 401;
    /// 401: the temporary password was never changed and has expired; an
    /// org_admin must issue a new one.
    TemporaryPasswordExpired = "temporary_password_expired", 401;
    /// 400: the password reset token is unknown, used or expired.
    InvalidResetToken = "invalid_reset_token", 400;
    /// 403: the caller's role or key does not allow this.
    Forbidden = "forbidden", 403;
    /// 403: the API key's scopes do not include this operation.
    InsufficientScope = "insufficient_scope", 403;
    /// 403: signed in with a temporary password, which must be changed
    /// (`POST /api/v1/auth/change-password`) before anything else.
    PasswordChangeRequired = "password_change_required", 403;
    /// 403: granting or removing org_admin, changing an org_admin and setting
    /// another user's password need a signed-in person, not an API key.
    PersonRequired = "person_required", 403;
    /// 403: the organization is deactivated.
    OrganizationInactive = "organization_inactive", 403;
    /// 403: the connection is managed by environment variables; change those instead.
    ManagedConnection = "managed_connection", 403;
    /// 404: no such resource (or one the caller may not see).
    NotFound = "not_found", 404;
    /// 404: no default organization exists yet.
    OrganizationNotFound = "organization_not_found", 404;
    /// 405: the method is not allowed on this resource.
    MethodNotAllowed = "method_not_allowed", 405;
    /// 408: the request did not arrive in time.
    RequestTimeout = "request_timeout", 408;
    /// 409: the e-mail address is taken.
    EmailTaken = "email_taken", 409;
    /// 409: the username is taken.
    UsernameTaken = "username_taken", 409;
    /// 409: the slug is taken.
    SlugTaken = "slug_taken", 409;
    /// 409: the name is taken.
    NameTaken = "name_taken", 409;
    /// 409: another unique value is taken.
    Conflict = "conflict", 409;
    /// 409: the change moves where a stored secret is sent (a URL, a tenant);
    /// send the secret again with it.
    SecretMustBeResent = "secret_must_be_resent", 409;
    /// 409: the API key is revoked and cannot be changed.
    ApiKeyRevoked = "api_key_revoked", 409;
    /// 413: the body is too large.
    PayloadTooLarge = "payload_too_large", 413;
    /// 415: the body is not JSON.
    UnsupportedMediaType = "unsupported_media_type", 415;
    /// 422: a referenced record does not exist.
    MissingReference = "missing_reference", 422;
    /// 422: a setting's value has the wrong type or is out of bounds; the message names the key.
    InvalidSettingValue = "invalid_setting_value", 422;
    /// 429: too many attempts; see `Retry-After`.
    TooManyAttempts = "too_many_attempts", 429;
    /// 500: a stored secret cannot be decrypted with the configured keys (or none is configured).
    SecretDecryptionFailed = "secret_decryption_failed", 500;
    /// 429: too many requests in the rate-limit window; see `Retry-After` and `X-RateLimit-*`.
    RateLimited = "rate_limited", 429;
    /// 500: our failure; the detail is in the log.
    InternalError = "internal_error", 500;
    /// 503: the database cannot be reached or written; see `Retry-After`.
    DatabaseUnavailable = "database_unavailable", 503;
    /// 503: too many password checks at once; see `Retry-After`.
    ServerBusy = "server_busy", 503;
    /// 503: not serving (starting or shutting down).
    ServiceUnavailable = "service_unavailable", 503;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused or failed operation: a code (which carries its status), a
/// message for people, and when to retry where that applies. Messages never
/// carry SQL, secrets or internals; those are logged where they happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct ServiceError {
    code: ErrorCode,
    message: String,
    retry_after: Option<Duration>,
}

impl ServiceError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retry_after = match code {
            ErrorCode::DatabaseUnavailable | ErrorCode::ServerBusy => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        Self {
            code,
            message: message.into(),
            retry_after,
        }
    }

    /// 429 `too_many_attempts`, retry after `wait` (at least a second).
    pub fn too_many_attempts(wait: Duration, what: &str) -> Self {
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Self {
            code: ErrorCode::TooManyAttempts,
            message: format!("too many {what}; try again in {secs} s"),
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    /// 429 `rate_limited`, retry after `wait` (at least a second).
    pub fn rate_limited(wait: Duration) -> Self {
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many requests; try again in {secs} s"),
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    /// 400 `validation_failed`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 500 `internal_error`; log the cause before calling this.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "an internal error occurred")
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// When the client may retry, for 429 and 503.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl From<PersistenceError> for ServiceError {
    fn from(err: PersistenceError) -> Self {
        match err {
            PersistenceError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::new(
                    ErrorCode::DatabaseUnavailable,
                    "the database is unavailable; try again shortly",
                )
            }
            PersistenceError::Conflict { field } => Self::new(
                match field {
                    "email" => ErrorCode::EmailTaken,
                    "username" => ErrorCode::UsernameTaken,
                    "slug" => ErrorCode::SlugTaken,
                    "name" => ErrorCode::NameTaken,
                    _ => ErrorCode::Conflict,
                },
                format!("a record with this {field} already exists"),
            ),
            PersistenceError::MissingReference => Self::new(
                ErrorCode::MissingReference,
                "a referenced record does not exist",
            ),
            PersistenceError::NotFound => Self::not_found("not found"),
            PersistenceError::InvalidText => Self::validation(
                "a text value holds a character that cannot be stored (such as U+0000)",
            ),
            other => {
                tracing::error!(error = %other, cause = ?std::error::Error::source(&other), "database failure");
                Self::internal()
            }
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(err: DomainError) -> Self {
        Self::validation(err.to_string())
    }
}

impl From<curatore_domain::setting_keys::SettingError> for ServiceError {
    fn from(err: curatore_domain::setting_keys::SettingError) -> Self {
        use curatore_domain::setting_keys::SettingError;
        let code = match &err {
            SettingError::Unknown { .. } => ErrorCode::UnknownSetting,
            SettingError::Invalid { .. } => ErrorCode::InvalidSettingValue,
            SettingError::NotWritable { .. } => ErrorCode::SettingNotWritable,
        };
        Self::new(code, err.to_string())
    }
}

impl From<AuthError> for ServiceError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::PasswordPolicy(reason) => Self::new(ErrorCode::WeakPassword, reason),
            AuthError::Busy => Self::new(
                ErrorCode::ServerBusy,
                "too many password checks at once; try again shortly",
            ),
            other => {
                tracing::error!(error = %other, "authentication failure");
                Self::internal()
            }
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_carry_error_statuses() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert!((400..600).contains(&code.status()), "{code}");
        }
    }

    #[test]
    fn unavailable_and_busy_say_when_to_retry() {
        let e = ServiceError::from(PersistenceError::Unavailable("down".into()));
        assert_eq!(e.code(), ErrorCode::DatabaseUnavailable);
        assert_eq!(e.retry_after(), Some(UNAVAILABLE_RETRY_AFTER));
        let e = ServiceError::too_many_attempts(Duration::from_millis(10), "logins");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(e.code().status(), 429);
    }
}
