//! Why a use case refused or failed, one enum per area of failure, each
//! with its cause. Nothing here knows HTTP: the wire codes, statuses and the
//! hints that name routes or variables are `curatore-web`'s (and the CLI's),
//! mapped once at that edge.

use curatore_auth::{AuthError, SecretsError};
use curatore_domain::setting_keys::SettingError;
use curatore_domain::{DomainError, OrganizationId, Role};
use curatore_persistence::PersistenceError;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// How long a client should wait before retrying while the database or the
/// password hasher cannot serve.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A refused or failed operation. Match on the area, then on the reason;
/// `Display` is a sentence for people that never carries SQL, secrets or
/// internals (those are logged where they happen, and kept as the
/// [`std::error::Error::source`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The caller did not prove who it is.
    #[error(transparent)]
    Unauthenticated(#[from] Unauthenticated),
    /// The caller is known, and may not do this.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// What was asked breaks a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// It would clash with what exists.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// Nothing the caller may see is there.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// Too many attempts; retry later.
    #[error(transparent)]
    Limited(#[from] Limited),
    /// The database or the password hasher cannot serve now; retry later.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// A stored secret cannot be opened or sealed.
    #[error(transparent)]
    Secrets(#[from] SecretsFailure),
    /// Our failure; the cause is the source, and was logged.
    #[error("an internal error occurred")]
    Internal(#[source] Failure),
}

/// The caller did not prove who it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unauthenticated {
    /// No credentials at all.
    #[error("authentication required")]
    Missing,
    /// The access token is forged, malformed or revoked.
    #[error("the access token is not valid")]
    InvalidToken,
    /// The access token has expired.
    #[error("the access token has expired")]
    TokenExpired,
    /// The API key is unknown, revoked or expired.
    #[error("the API key is not valid")]
    InvalidApiKey,
    /// Wrong login or password, whatever the reason (no enumeration).
    #[error("invalid email/username or password")]
    InvalidCredentials,
    /// The refresh token is unknown, used, expired or revoked.
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// A temporary password was never changed and has expired.
    #[error("this temporary password has expired unused; ask an org_admin for a new one")]
    TemporaryPasswordExpired,
    /// The password reset token is unknown, used or expired.
    #[error(
        "the reset token is not valid (unknown, used or expired); ask an org_admin for a new one"
    )]
    InvalidResetToken,
}

/// The caller is known, and may not do this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// The caller's role is below the one this needs.
    #[error("this action needs the {} role", required.as_str())]
    Role {
        /// The least role that may.
        required: Role,
    },
    /// The API key's scopes do not include this operation.
    #[error("this API key's scopes do not include {scope} (or {access})")]
    Scope {
        /// The scope needed (`users:write`).
        scope: String,
        /// The blanket scope that would also do (`write`).
        access: &'static str,
    },
    /// Signed in with a temporary password, which must be changed first.
    #[error("this account signed in with a temporary password; set a new one first")]
    PasswordChangeRequired,
    /// The caller's organization is deactivated.
    #[error("the organization is deactivated")]
    OrganizationInactive,
    /// The connection is managed by environment variables.
    #[error("this connection is managed by environment variables ({managed_by})")]
    ManagedConnection {
        /// The variables that define it.
        managed_by: String,
    },
    /// The last active org_admin cannot be demoted or deactivated.
    #[error(
        "the organization's last active org_admin cannot be demoted or deactivated; make another user org_admin first"
    )]
    LastAdmin,
    /// Nobody changes their own role.
    #[error("you cannot change your own role")]
    OwnRole,
    /// Nobody deactivates themselves.
    #[error("you cannot deactivate yourself")]
    DeactivateSelf,
    /// One's own password is changed with the current one, not set.
    #[error("change your own password with the change-password operation")]
    OwnPassword,
    /// Only org_admins create users.
    #[error("only an org_admin may create users")]
    CreateUsers,
    /// Open registration makes members only.
    #[error("self-registered users are members")]
    SelfRegisteredMember,
    /// The signed-in user was deleted meanwhile.
    #[error("the user no longer exists")]
    UserGone,
    /// Something only a signed-in person may do (not an API key or the
    /// system principal); the sentence says what.
    #[error("{0}")]
    PersonRequired(&'static str),
    /// Organizations are managed by the default organization's admins only.
    #[error("only the administrators of the default organization manage organizations")]
    NotInstanceAdmin,
    /// User settings need a user, and none acts in this request.
    #[error(
        "no user acts in this request (an organization-wide API key, or authentication disabled): there are no user settings"
    )]
    NoUserInRequest,
    /// A key may mint keys only with `api_keys:write`.
    #[error("API keys cannot mint API keys unless their scopes include api_keys:write")]
    KeyCannotMint,
    /// A key minted by a key holds a subset of its scopes.
    #[error("a key minted by a key must have scopes, all of them held by the minting key")]
    MintedScopes,
}

/// What was asked breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// A value breaks a rule of the use case; the sentence says which.
    #[error("{0}")]
    Rule(Cow<'static, str>),
    /// A value breaks a rule of the domain (a slug, an address, a role).
    #[error(transparent)]
    Value(#[from] DomainError),
    /// The new password breaks the password policy.
    #[error("{0}")]
    WeakPassword(String),
    /// The new password is the current one.
    #[error("the new password must differ from the current one")]
    SamePassword,
    /// A setting is unknown, not writable here, or its value is refused.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// A page size out of range.
    #[error("limit must be between 1 and {max}")]
    PageSize {
        /// The largest page.
        max: u64,
    },
    /// An offset beyond what offset paging serves.
    #[error("skip must be at most {max}")]
    Skip {
        /// The largest offset.
        max: u64,
    },
    /// Offset and keyset paging at once.
    #[error("skip and cursor cannot be combined")]
    SkipWithCursor,
    /// A cursor this API did not issue.
    #[error("cursor is not a cursor this API issued")]
    UnknownCursor,
    /// An audit feed position this API did not hand out.
    #[error("the position was not handed out by this API")]
    UnknownPosition,
    /// A text value holds a character the database cannot store.
    #[error("a text value holds a character that cannot be stored (such as U+0000)")]
    Text,
}

/// It would clash with what exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Conflict {
    /// A unique value is taken (`email`, `username`, `slug`, `name`, …).
    #[error("a record with this {field} already exists")]
    Taken {
        /// The value's field.
        field: &'static str,
    },
    /// A revoked API key cannot be changed.
    #[error("the API key is revoked and cannot be changed")]
    ApiKeyRevoked,
    /// The default organization cannot be deactivated.
    #[error("the default organization cannot be deactivated: its admins administer the instance")]
    DefaultOrganization,
    /// An import would mix with what the organization holds.
    #[error("{0}")]
    Import(String),
    /// A referenced record does not exist.
    #[error("a referenced record does not exist")]
    MissingReference,
}

/// Nothing the caller may see is there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotFound {
    /// No such record of this kind (`user`, `API key`, …), or one in another
    /// organization.
    #[error("{0} not found")]
    Record(&'static str),
    /// No organization has this slug.
    #[error("no organization has slug `{0}`")]
    Slug(String),
    /// No default organization exists yet (nothing was seeded).
    #[error("no default organization exists")]
    NoDefaultOrganization,
    /// The configured default organization does not exist.
    #[error("the configured default organization {0} does not exist")]
    ConfiguredOrganization(OrganizationId),
    /// A row vanished under a write.
    #[error("not found")]
    Row,
}

/// Too many attempts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Limited {
    /// Too many attempts of one kind (`failed logins`, `registrations`).
    #[error("too many {what}; try again in {} s", whole_seconds(*.retry_after))]
    TooManyAttempts {
        /// What was attempted, plural.
        what: String,
        /// When to try again.
        retry_after: Duration,
    },
}

/// The database or the password hasher cannot serve now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// The database cannot be reached or written; the reason is logged.
    #[error("the database is unavailable; try again shortly")]
    Database(String),
    /// Too many password checks at once.
    #[error("too many password checks at once; try again shortly")]
    Busy,
}

/// A stored secret cannot be opened or sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsFailure {
    /// No configured key opens it (wrong key, dropped key, altered value).
    #[error(transparent)]
    CannotOpen(#[from] SecretsError),
    /// No secrets key is configured at all.
    #[error("no secrets key is configured, so connection secrets cannot be stored or read")]
    NoKey,
    /// An export file's secrets do not open with the passphrase given.
    #[error(
        "the secrets in the file do not open with the export passphrase: wrong passphrase or altered file"
    )]
    ExportPassphrase,
}

/// The cause of an internal error, shareable so errors stay `Clone`.
#[derive(Debug, Clone)]
pub struct Failure(Arc<dyn std::error::Error + Send + Sync>);

impl Failure {
    /// Wraps a cause.
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(cause))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl ServiceError {
    /// Too many attempts of `what`, retry after `wait` (rounded up to whole
    /// seconds, at least one).
    pub fn too_many_attempts(wait: Duration, what: &str) -> Self {
        Limited::TooManyAttempts {
            what: what.to_owned(),
            retry_after: Duration::from_secs(whole_seconds(wait)),
        }
        .into()
    }

    /// A rule of the use case, in a sentence.
    pub(crate) fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Invalid::Rule(message.into()).into()
    }

    /// No such `kind` of record (`"user"`, `"API key"`).
    pub(crate) fn not_found(kind: &'static str) -> Self {
        NotFound::Record(kind).into()
    }

    /// Our failure: logs `cause` and keeps it as the source.
    pub(crate) fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        tracing::error!(error = %cause, "internal failure");
        Self::Internal(Failure::new(cause))
    }

    /// When the client may retry: after the wait for too many attempts, a
    /// short while when the database or the hasher cannot serve.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Limited(Limited::TooManyAttempts { retry_after, .. }) => Some(*retry_after),
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }
}

impl From<PersistenceError> for ServiceError {
    fn from(err: PersistenceError) -> Self {
        match err {
            PersistenceError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Unavailable::Database(reason).into()
            }
            PersistenceError::Conflict { field } => Conflict::Taken { field }.into(),
            PersistenceError::MissingReference => Conflict::MissingReference.into(),
            PersistenceError::NotFound => NotFound::Row.into(),
            PersistenceError::InvalidText => Invalid::Text.into(),
            other => {
                tracing::error!(error = %other, cause = ?std::error::Error::source(&other), "database failure");
                Self::Internal(Failure::new(other))
            }
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(err: DomainError) -> Self {
        Invalid::Value(err).into()
    }
}

impl From<SettingError> for ServiceError {
    fn from(err: SettingError) -> Self {
        Invalid::Setting(err).into()
    }
}

impl From<AuthError> for ServiceError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::PasswordPolicy(reason) => Invalid::WeakPassword(reason).into(),
            AuthError::Busy => Unavailable::Busy.into(),
            other => Self::internal(other),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_and_too_many_say_when_to_retry() {
        let e = ServiceError::from(PersistenceError::Unavailable("down".into()));
        assert!(matches!(
            e,
            ServiceError::Unavailable(Unavailable::Database(_))
        ));
        assert_eq!(e.retry_after(), Some(UNAVAILABLE_RETRY_AFTER));
        assert!(
            !e.to_string().contains("down"),
            "the reason is logged, not shown"
        );
        let e = ServiceError::too_many_attempts(Duration::from_millis(10), "logins");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(e.to_string(), "too many logins; try again in 1 s");
        assert_eq!(ServiceError::from(Denied::LastAdmin).retry_after(), None);
    }

    #[test]
    fn internal_errors_keep_their_cause_as_the_source_and_show_none_of_it() {
        let cause = std::io::Error::other("disk on fire at /var/lib/x");
        let e = ServiceError::internal(cause);
        assert_eq!(e.to_string(), "an internal error occurred");
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.to_string().contains("disk on fire"));
    }

    #[test]
    fn refusals_that_share_a_wire_code_stay_apart_here() {
        let own = ServiceError::from(Denied::OwnRole);
        let last = ServiceError::from(Denied::LastAdmin);
        assert!(matches!(own, ServiceError::Denied(Denied::OwnRole)));
        assert!(matches!(last, ServiceError::Denied(Denied::LastAdmin)));
        assert_ne!(own.to_string(), last.to_string());
    }
}
