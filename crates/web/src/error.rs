//! The wire vocabulary of errors and its one JSON shape: every
//! [`ServiceError`] (and every error of HTTP's own) becomes an [`ApiError`]
//! here, with its stable [`ErrorCode`], its status, and the sentence a
//! client sees, including the hints that name our routes and variables
//! (the service layer does not know them).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use curatore_domain::DomainError;
use curatore_domain::setting_keys::SettingError;
use curatore_service::{
    Conflict, Denied, Invalid, Limited, NotFound, SecretsFailure, ServiceError, Unauthenticated,
    Unavailable,
};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

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

/// The code and the sentence a client gets for a refusal of the service
/// layer. The one place where reasons become wire codes.
pub fn wire(err: &ServiceError) -> (ErrorCode, Cow<'static, str>) {
    use ErrorCode as C;
    let said = || Cow::Owned(err.to_string());
    match err {
        ServiceError::Unauthenticated(u) => match u {
            Unauthenticated::Missing => (
                C::AuthenticationRequired,
                "authentication required: send a bearer token or an API key".into(),
            ),
            Unauthenticated::InvalidToken => (C::InvalidToken, said()),
            Unauthenticated::TokenExpired => (C::TokenExpired, said()),
            Unauthenticated::InvalidApiKey => (C::InvalidApiKey, said()),
            Unauthenticated::InvalidCredentials => (C::InvalidCredentials, said()),
            Unauthenticated::InvalidRefreshToken => (C::InvalidRefreshToken, said()),
            Unauthenticated::TemporaryPasswordExpired => (C::TemporaryPasswordExpired, said()),
            Unauthenticated::InvalidResetToken => (C::InvalidResetToken, said()),
            _ => (C::InvalidCredentials, said()),
        },
        ServiceError::Denied(d) => match d {
            Denied::Scope { .. } => (C::InsufficientScope, said()),
            Denied::PasswordChangeRequired => (
                C::PasswordChangeRequired,
                "this account signed in with a temporary password; set a new one with POST /api/v1/auth/change-password first".into(),
            ),
            Denied::OrganizationInactive => (C::OrganizationInactive, said()),
            Denied::ManagedConnection { .. } => (
                C::ManagedConnection,
                format!(
                    "{err}; change the environment and restart, or run `curatore-server connections import-env`"
                )
                .into(),
            ),
            Denied::OwnPassword => (
                C::Forbidden,
                "change your own password with /api/v1/auth/change-password".into(),
            ),
            _ => (C::Forbidden, said()),
        },
        ServiceError::Invalid(i) => match i {
            Invalid::WeakPassword(_) | Invalid::SamePassword => (C::WeakPassword, said()),
            Invalid::Setting(s) => (
                match s {
                    SettingError::Unknown { .. } => C::UnknownSetting,
                    SettingError::Invalid { .. } => C::InvalidSettingValue,
                    SettingError::NotWritable { .. } => C::SettingNotWritable,
                },
                said(),
            ),
            Invalid::PageSize { .. }
            | Invalid::Skip { .. }
            | Invalid::SkipWithCursor
            | Invalid::UnknownCursor => (C::InvalidQueryParameter, said()),
            Invalid::UnknownPosition => (
                C::InvalidQueryParameter,
                "query parameter `after` is not a position this API handed out".into(),
            ),
            _ => (C::ValidationFailed, said()),
        },
        ServiceError::Conflict(c) => match c {
            Conflict::Taken { field } => (
                match *field {
                    "email" => C::EmailTaken,
                    "username" => C::UsernameTaken,
                    "slug" => C::SlugTaken,
                    "name" => C::NameTaken,
                    _ => C::Conflict,
                },
                said(),
            ),
            Conflict::ApiKeyRevoked => (C::ApiKeyRevoked, said()),
            Conflict::MissingReference => (C::MissingReference, said()),
            _ => (C::Conflict, said()),
        },
        ServiceError::NotFound(n) => match n {
            NotFound::NoDefaultOrganization => (
                C::OrganizationNotFound,
                "no default organization exists; run `curatore-server seed`".into(),
            ),
            NotFound::ConfiguredOrganization(_) => (C::OrganizationNotFound, said()),
            _ => (C::NotFound, said()),
        },
        ServiceError::Limited(l) => match l {
            Limited::TooManyAttempts { .. } => (C::TooManyAttempts, said()),
            _ => (C::TooManyAttempts, said()),
        },
        ServiceError::Unavailable(u) => match u {
            Unavailable::Busy => (C::ServerBusy, said()),
            _ => (C::DatabaseUnavailable, said()),
        },
        ServiceError::Secrets(s) => match s {
            SecretsFailure::NoKey => (
                C::SecretDecryptionFailed,
                "no SECRETS_ENCRYPTION_KEY is configured, so connection secrets cannot be stored or read".into(),
            ),
            SecretsFailure::ExportPassphrase => (
                C::SecretDecryptionFailed,
                "the secrets in the file do not open with CURATORE_EXPORT_PASSPHRASE: wrong passphrase or altered file".into(),
            ),
            _ => (C::SecretDecryptionFailed, said()),
        },
        _ => (C::InternalError, "an internal error occurred".into()),
    }
}

/// A failed request: a stable [`ErrorCode`] (which decides the status), a
/// message for people and, for 429 and 503, when to retry. Rendered as
/// `{"error": {"code": …, "message": …}, "detail": …}`, where `detail`
/// repeats the message: the original's clients (and its web UI) show
/// `body.detail`.
///
/// Messages never carry SQL, stack traces or secrets; the underlying cause is
/// logged instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    retry_after: Option<Duration>,
}

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
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        let retry_after = match code {
            ErrorCode::DatabaseUnavailable | ErrorCode::ServerBusy => {
                Some(curatore_service::UNAVAILABLE_RETRY_AFTER)
            }
            _ => None,
        };
        Self {
            code,
            message: message.into(),
            retry_after,
        }
    }

    /// 429 `too_many_attempts` with `Retry-After` (whole seconds, at least 1).
    pub fn too_many_attempts(wait: Duration, what: &str) -> Self {
        ServiceError::too_many_attempts(wait, what).into()
    }

    /// 429 `rate_limited` with `Retry-After` (whole seconds, at least 1).
    pub fn rate_limited(wait: Duration) -> Self {
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many requests; try again in {secs} s").into(),
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    /// 400 `validation_failed`.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// 400 `invalid_query_parameter`.
    pub fn query(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidQueryParameter, message)
    }

    /// 404 for something that does not exist (or that the caller may not see).
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 503 while the database cannot be reached.
    pub fn database_unavailable() -> Self {
        ServiceError::from(Unavailable::Database(String::new())).into()
    }

    /// 500 for a failure that is ours; the detail goes to the log only.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "an internal error occurred")
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` seconds this error answers with, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after.map(|d| d.as_secs())
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
        write!(f, "{} ({})", self.message, self.code)
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
        let (code, message) = wire(&err);
        Self {
            code,
            message,
            retry_after: err.retry_after(),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        ServiceError::from(err).into()
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
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(status_of(*code).as_u16(), code.status(), "{code}");
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert!((400..600).contains(&code.status()), "{code}");
        }
    }

    /// The sentences that name our routes and variables are added here, and
    /// the wire says exactly what it said when the service wrote them.
    #[test]
    fn reasons_map_to_their_codes_and_the_hints_the_wire_always_had() {
        let cases: Vec<(ServiceError, ErrorCode, &str)> = vec![
            (
                Unauthenticated::Missing.into(),
                ErrorCode::AuthenticationRequired,
                "authentication required: send a bearer token or an API key",
            ),
            (
                Denied::PasswordChangeRequired.into(),
                ErrorCode::PasswordChangeRequired,
                "this account signed in with a temporary password; set a new one with POST /api/v1/auth/change-password first",
            ),
            (
                Denied::ManagedConnection {
                    managed_by: "OPENAI_*".into(),
                }
                .into(),
                ErrorCode::ManagedConnection,
                "this connection is managed by environment variables (OPENAI_*); change the environment and restart, or run `curatore-server connections import-env`",
            ),
            (
                Denied::OwnPassword.into(),
                ErrorCode::Forbidden,
                "change your own password with /api/v1/auth/change-password",
            ),
            (
                Denied::LastAdmin.into(),
                ErrorCode::Forbidden,
                "the organization's last active org_admin cannot be demoted or deactivated; make another user org_admin first",
            ),
            (
                Denied::Role {
                    required: curatore_domain::Role::OrgAdmin,
                }
                .into(),
                ErrorCode::Forbidden,
                "this action needs the org_admin role",
            ),
            (
                Invalid::PageSize { max: 500 }.into(),
                ErrorCode::InvalidQueryParameter,
                "limit must be between 1 and 500",
            ),
            (
                Invalid::SamePassword.into(),
                ErrorCode::WeakPassword,
                "the new password must differ from the current one",
            ),
            (
                Conflict::Taken { field: "email" }.into(),
                ErrorCode::EmailTaken,
                "a record with this email already exists",
            ),
            (
                NotFound::NoDefaultOrganization.into(),
                ErrorCode::OrganizationNotFound,
                "no default organization exists; run `curatore-server seed`",
            ),
            (
                NotFound::Record("API key").into(),
                ErrorCode::NotFound,
                "API key not found",
            ),
            (
                SecretsFailure::NoKey.into(),
                ErrorCode::SecretDecryptionFailed,
                "no SECRETS_ENCRYPTION_KEY is configured, so connection secrets cannot be stored or read",
            ),
            (
                Unavailable::Busy.into(),
                ErrorCode::ServerBusy,
                "too many password checks at once; try again shortly",
            ),
        ];
        for (err, code, message) in cases {
            let api = ApiError::from(err);
            assert_eq!((api.code(), api.message()), (code, message));
        }
        let busy = ApiError::from(ServiceError::from(Unavailable::Busy));
        assert_eq!(busy.retry_after(), Some(5));
    }
}
