//! Curatore's domain: the types and rules every other layer speaks.
//!
//! Nothing here performs I/O or knows about the ORM or the web framework, so a
//! service that imports Curatore can use these types without pulling either in.
//! Values that carry rules (slugs, e-mail addresses, usernames, roles) are
//! validated when they are constructed, so holding one is proof it is valid.
//!
//! ```
//! use curatore_domain::{DatabaseUrl, EmailAddress, Role, Secret, Slug};
//!
//! // Holding a value is proof it is valid: a bad one never gets this far.
//! assert!(Slug::parse("Not a slug!").is_err());
//! let email = EmailAddress::parse("Alice@Example.COM")?;
//! assert_eq!(email.as_str(), "alice@example.com");
//!
//! // Roles are ordered by what they allow.
//! let role: Role = "org_admin".parse()?;
//! assert!(role.satisfies(Role::Member));
//! assert!(!Role::Viewer.satisfies(Role::Member));
//!
//! // Secrets and database passwords never reach a log by accident.
//! let key = Secret::new("sk-live-123");
//! assert_eq!(format!("{key:?} {key}"), "[REDACTED] [REDACTED]");
//! let url = DatabaseUrl::parse("postgresql://app:hunter2@db:5432/curatore")?;
//! assert!(!url.redacted().contains("hunter2"));
//! assert!(!format!("{url:?}").contains("hunter2"));
//! # Ok::<(), curatore_domain::DomainError>(())
//! ```

mod audit;
mod connection;
mod database_url;
mod error;
mod ids;
mod mail;
mod records;
mod role;
mod schedule;
mod secret;
pub mod setting_keys;
pub mod settings;
pub mod text;
mod validation;

pub use audit::{AuditAction, AuditStatus};
pub use connection::{ConnectionScope, ConnectionTestStatus, ConnectionType};
pub use database_url::{ACCEPTED_DATABASE_URL_FORMS, DatabaseKind, DatabaseUrl};
pub use error::DomainError;
pub use ids::{
    ApiKeyId, AuditLogId, ConnectionId, OrganizationId, RefreshTokenId, SystemSettingId, UserId,
};
pub use mail::{MailKind, OutgoingMail, SmtpTls};
pub use records::{
    ApiKey, AuditLogEntry, Connection, NewApiKey, NewAuditLogEntry, NewConnection, NewOrganization,
    NewRefreshToken, NewSystemSetting, NewUser, Organization, PasswordHash, RefreshTokenRecord,
    SystemSetting, User,
};
pub use role::Role;
pub use schedule::Schedule;
pub use secret::Secret;
pub use validation::{EmailAddress, Slug, Username};
