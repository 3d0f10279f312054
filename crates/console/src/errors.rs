//! Every error code as a sentence for people, shown in the page where the
//! error happened.

use curatore_domain::DomainError;
use curatore_service::ServiceError;
use curatore_web::{ApiError, ErrorCode};

/// A failure as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    /// The HTTP status the page is answered with.
    pub(crate) status: u16,
    /// The sentence.
    pub(crate) message: String,
    /// The code, for those who report it.
    pub(crate) code: &'static str,
}

/// The human sentence for `code`.
pub(crate) fn human(code: ErrorCode) -> &'static str {
    use ErrorCode as C;
    match code {
        C::BadRequest
        | C::InvalidJson
        | C::InvalidBody
        | C::InvalidPathParameter
        | C::InvalidQueryParameter => "The request was not understood.",
        C::ValidationFailed => "A value is not valid.",
        C::WeakPassword => "That password is too weak.",
        C::UnknownSetting => "There is no such setting.",
        C::SettingNotWritable => "This setting cannot be changed here.",
        C::AuthenticationRequired | C::InvalidToken | C::TokenExpired => {
            "Your session has ended; please sign in again."
        }
        C::InvalidApiKey => "The API key is not valid.",
        C::InvalidCredentials => "The username, e-mail address or password is wrong.",
        C::InvalidRefreshToken => "Your session has ended; please sign in again.",
        C::TemporaryPasswordExpired => {
            "This temporary password expired unused; ask an administrator for a new one."
        }
        C::InvalidResetToken => "This reset link is unknown, already used or expired.",
        C::Forbidden => "Your role does not allow this.",
        C::InsufficientScope => "This API key's scopes do not allow this.",
        C::PasswordChangeRequired => "Set a new password before anything else.",
        C::PersonRequired => "Only a signed-in person may do this, not an API key.",
        C::SecretIsRedactionMarker => {
            "The hidden-secret placeholder is not a secret: type the secret itself."
        }
        C::SecretMustBeResent => {
            "This change moves where the stored secret is sent: type the secret again."
        }
        C::OrganizationInactive => "This organization is deactivated.",
        C::ManagedConnection => {
            "This connection is managed by environment variables; change those instead."
        }
        C::NotFound => "It does not exist, or you may not see it.",
        C::OrganizationNotFound => "No default organization exists yet.",
        C::MethodNotAllowed => "That action is not available here.",
        C::RequestTimeout => "The request took too long to arrive.",
        C::EmailTaken => "That e-mail address is already in use.",
        C::UsernameTaken => "That username is already in use.",
        C::SlugTaken => "That slug is already in use.",
        C::NameTaken => "That name is already in use.",
        C::Conflict => "That value is already in use.",
        C::ApiKeyRevoked => "This API key is revoked and cannot be changed.",
        C::PayloadTooLarge => "What was sent is too large.",
        C::UnsupportedMediaType => "What was sent is of the wrong kind.",
        C::MissingReference => "Something it refers to does not exist.",
        C::InvalidSettingValue => "A setting's value has the wrong type or is out of bounds.",
        C::TooManyAttempts | C::RateLimited => "Too many attempts.",
        C::SecretDecryptionFailed => {
            "A stored secret cannot be decrypted with the configured keys."
        }
        C::InternalError => "Something went wrong on our side; it is in the server's log.",
        C::DatabaseUnavailable => "The database is unavailable right now.",
        C::ServerBusy => "The server is busy.",
        C::ServiceUnavailable => "The server is not serving right now.",
    }
}

impl From<&ApiError> for Shown {
    fn from(err: &ApiError) -> Self {
        let code = err.code();
        let mut message = human(code).to_owned();
        // The API's message says which value or rule; it never holds
        // secrets or internals.
        let detail = err.message();
        if !detail.is_empty() && code.status() < 500 {
            message.push(' ');
            message.push_str(&sentence(detail));
        }
        if let Some(after) = err.retry_after() {
            message.push_str(&format!(" Try again in {} s.", after.max(1)));
        } else if code.status() == 429 || code.status() == 503 {
            message.push_str(" Try again in a few seconds.");
        }
        Self {
            status: code.status(),
            message,
            code: code.as_str(),
        }
    }
}

impl From<ServiceError> for Shown {
    fn from(err: ServiceError) -> Self {
        Self::from(&ApiError::from(err))
    }
}

impl From<DomainError> for Shown {
    fn from(err: DomainError) -> Self {
        Self::from(&ApiError::from(err))
    }
}

impl Shown {
    /// A failure of the console's own (a form it could not read).
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            code: ErrorCode::ValidationFailed.as_str(),
        }
    }
}

/// `detail` with a capital and a full stop.
fn sentence(detail: &str) -> String {
    let mut chars = detail.chars();
    let mut s: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_sentence() {
        for code in ErrorCode::ALL {
            assert!(human(*code).ends_with('.'), "{code}");
        }
    }

    #[test]
    fn busy_and_unavailable_say_when_to_retry() {
        let shown = Shown::from(&ApiError::database_unavailable());
        assert_eq!(shown.status, 503);
        assert!(shown.message.contains("database is unavailable"));
        assert!(shown.message.contains("Try again"));
    }
}
