//! Curatore's use cases: one function per operation.
//!
//! Each operation on an organization takes a [`RequestContext`] (who acts,
//! in which organization, from where), checks the rule, opens its own
//! transaction, writes its audit entry in that transaction, and after the
//! commit forgets what the authentication cache held and ends sessions.
//! Nothing here knows HTTP: a CLI, a worker or another service gets the same
//! rules by calling the same functions.
//!
//! ```no_run
//! # async fn demo(services: curatore_service::Services, ctx: curatore_service::RequestContext)
//! # -> Result<(), curatore_service::ServiceError> {
//! let keys = services.list_api_keys(&ctx, curatore_service::KeyQuery::default()).await?;
//! for key in keys.items { println!("{} {}", key.prefix, key.name); }
//! # Ok(()) }
//! ```
//!
//! Errors are [`ServiceError`]s whose [`ErrorCode`] carries the HTTP status
//! the web layer answers with, so the mapping happens once, at the edge.

mod api_keys;
mod audit;
mod audit_logs;
mod backups;
mod cache;
pub mod connections;
mod context;
mod error;
mod export;
pub use export::{
    EXPORT_FORMAT, ExportDocument, ExportOptions, ExportedApiKey, ExportedConnection,
    ExportedOrganization, ExportedUser, ImportReport, PASSPHRASE_ENVELOPE,
};
mod instance;
mod limiter;
pub mod metrics;
mod organizations;
mod page;
mod refusals;
mod seed;
mod services;
mod sessions;
mod settings;
mod status;
pub use status::ServiceStatus;
mod text;
mod users;

pub use api_keys::{CreatedKey, KeyQuery, MAX_EXPIRY_DAYS, MAX_KEY_PAGE, NewKey};
pub use audit::AuditEvent;
pub use audit_logs::{AuditLogPage, AuditLogQuery};
pub use audit_logs::{DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT};
pub use backups::{
    BackupFailure, BackupMade, BackupRun, BackupTrigger, SealedSecrets, check_sealed_secrets,
};
pub use connections::kinds::{ConnectionKind, ConnectionRegistry, TestFuture, TestOutcome};
pub use connections::outbound::OutboundPolicy;
pub use connections::{
    ActiveConnection, ConnectionQuery, ConnectionSource, ConnectionTypeInfo, ConnectionUpdate,
    ConnectionsConfig, EnvironmentConnection, ImportAction, MAX_CONNECTION_PAGE,
    NewConnectionRequest, SavedConnection, TestReport,
};
pub use context::{Access, Actor, Client, Principal, RequestContext, SCOPE_RESOURCES, Scope};
pub use error::{ErrorCode, Result, ServiceError, UNAVAILABLE_RETRY_AFTER};
pub use instance::{MAX_ORGANIZATION_PAGE, NewAdmin, NewTenant, TenantChanges};
pub use limiter::{LoginLimits, RegistrationLimits};
pub use organizations::OrganizationChanges;
pub use page::{MAX_SKIP, Page};
pub use seed::InitialAdmin;
pub use services::{
    AuthConfig, Credentials, DefaultOrganization, Services, authentication_required,
};
pub use sessions::{LogoutTarget, Registration, Session};
pub use settings::{EffectiveSettings, SettingsSchema, SystemSettingsView};
pub use text::NAME_MAX;
pub use users::{
    Invitation, InvitedUser, MAX_USER_PAGE, PasswordReset, RESET_TOKEN_HOURS,
    TEMPORARY_PASSWORD_DAYS, UserChanges, UserQuery,
};
