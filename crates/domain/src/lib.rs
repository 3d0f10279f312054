//! Curatore's domain: the types and rules every other layer speaks.
//!
//! Nothing here performs I/O or knows about the ORM or the web framework, so a
//! service that imports Curatore can use these types without pulling either in.
//! Values that carry rules (slugs, e-mail addresses, usernames, roles) are
//! validated when they are constructed, so holding one is proof it is valid.

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
pub use mail::{MailKind, OutgoingMail};
pub use records::{
    ApiKey, AuditLogEntry, Connection, NewApiKey, NewAuditLogEntry, NewConnection, NewOrganization,
    NewRefreshToken, NewSystemSetting, NewUser, Organization, PasswordHash, RefreshTokenRecord,
    SystemSetting, User,
};
pub use role::Role;
pub use schedule::Schedule;
pub use secret::Secret;
pub use validation::{EmailAddress, Slug, Username};
